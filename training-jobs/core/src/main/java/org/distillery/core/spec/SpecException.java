package org.distillery.core.spec;

import java.util.List;
import org.distillery.core.DistilleryException;

/** A spec file that cannot be used; the message lists each problem as {@code file:line: field: problem}. */
public final class SpecException extends DistilleryException {
    private final List<String> problems;

    public SpecException(List<String> problems) {
        super(String.join("\n", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
