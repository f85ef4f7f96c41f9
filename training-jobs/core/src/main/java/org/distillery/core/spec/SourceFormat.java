package org.distillery.core.spec;

import com.fasterxml.jackson.annotation.JsonValue;

/** How a corpus's files hold documents. */
public enum SourceFormat {
    /** Plain UTF-8 text; see {@link DocUnit} for where documents end. */
    TEXT("text"),
    /** JSON lines, each an object whose text field (default "text") is one document. */
    JSONL("jsonl"),
    /** Parquet files with a string column (default "text"), one document per row. */
    PARQUET("parquet"),
    /** The tagged Brown corpus: one document per file, word/TAG tokens. */
    BROWN_TAGGED("brown-tagged"),
    /** JSON files, each an array of strings, one document per string. */
    JSON_SENTENCES("json-sentences");

    private final String yamlName;

    SourceFormat(String yamlName) {
        this.yamlName = yamlName;
    }

    @JsonValue
    @Override
    public String toString() {
        return yamlName;
    }
}
