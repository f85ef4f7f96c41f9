package org.distillery.core.spec;

/** A job's configuration, read from YAML by {@link SpecReader} and validated in one place. */
public interface Spec {
    /** Reports every problem to {@code v}, by field path ("filters.min_chars", "sources[0].path"). */
    void validate(Validation v);
}
