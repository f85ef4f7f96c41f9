package org.distillery.core.spec;

import com.fasterxml.jackson.annotation.JsonValue;

/** Where one document ends in a plain-text source. */
public enum DocUnit {
    FILE("file"), PARAGRAPH("paragraph"), LINE("line");

    private final String yamlName;

    DocUnit(String yamlName) {
        this.yamlName = yamlName;
    }

    @JsonValue
    @Override
    public String toString() {
        return yamlName;
    }
}
