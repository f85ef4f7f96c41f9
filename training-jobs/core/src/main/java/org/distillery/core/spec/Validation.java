package org.distillery.core.spec;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** Collects a spec's problems by field path; {@link SpecReader} turns the paths into file lines. */
public final class Validation {
    /** One problem: the dotted field path and what is wrong with it. */
    public record Problem(String path, String message) {
    }

    private final List<Problem> problems = new ArrayList<>();

    public void fail(String path, String message) {
        problems.add(new Problem(path, message));
    }

    public void require(boolean ok, String path, String message) {
        if (!ok) {
            fail(path, message);
        }
    }

    public void notNull(Object value, String path) {
        require(value != null, path, "is required");
    }

    public void inRange(Number value, double min, double max, String path) {
        if (value != null && (value.doubleValue() < min || value.doubleValue() > max)) {
            fail(path, "must be between " + fmt(min) + " and " + fmt(max) + ", found " + value);
        }
    }

    public void oneOf(Object value, Collection<?> allowed, String path) {
        if (value != null && !allowed.contains(value)) {
            fail(path, "must be one of " + allowed + ", found '" + value + "'");
        }
    }

    public List<Problem> problems() {
        return problems;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.valueOf(d);
    }
}
