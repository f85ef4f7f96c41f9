package org.distillery.workbench.core.specs;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.EngineQuery;
import org.distillery.workbench.core.engine.JobLaunch;

/**
 * A spec checked by the engine's own reader ({@code distillery validate KIND SPEC --json}), the
 * check every job makes before it starts: the editor shows these problems as markers on their lines.
 */
public record SpecValidation(Path file, JobLaunch.Kind kind, List<Problem> problems) {
    public static final String FORMAT = "distillery.validation/1";

    /** One problem: the file it is in (an experiment's member spec may be another), its line and field. */
    public record Problem(Path file, int line, String field, String message) {
        /** {@code file:line: message}, as the CLI prints it. */
        public String display() {
            return file + ":" + line + ": " + message;
        }
    }

    public static SpecValidation run(EngineQuery engine, JobLaunch.Kind kind, Path spec) {
        return parse(engine.json("validate", kind.command(), spec.toAbsolutePath().toString(), "--json"), kind);
    }

    static SpecValidation parse(JsonNode root, JobLaunch.Kind kind) {
        if (!FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("expected a " + FORMAT + " document, got format '"
                    + root.path("format").asText() + "'");
        }
        List<Problem> problems = new ArrayList<>();
        for (JsonNode p : root.path("problems")) {
            problems.add(new Problem(Path.of(p.path("file").asText()), Math.max(1, p.path("line").asInt(1)),
                    p.path("field").isTextual() ? p.path("field").asText() : null, p.path("message").asText()));
        }
        return new SpecValidation(Path.of(root.path("file").asText()), kind, List.copyOf(problems));
    }

    public boolean valid() {
        return problems.isEmpty();
    }

    /** The problems in {@code file} itself (markers go on its lines); the others belong to member specs. */
    public List<Problem> in(Path file) {
        Path f = file.toAbsolutePath().normalize();
        return problems.stream().filter(p -> p.file().toAbsolutePath().normalize().equals(f)).toList();
    }
}
