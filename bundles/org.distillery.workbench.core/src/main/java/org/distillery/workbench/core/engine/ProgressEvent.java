package org.distillery.workbench.core.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Optional;

/**
 * One progress event a {@code distillery} job prints on stdout when it is not on a terminal (schema
 * {@value #SCHEMA}, docs/progress-events.md). The workbench reads a launched job's output line by
 * line; lines that are not events (console output) are shown as they are, and event types this
 * reader does not know are skipped, as the schema asks.
 *
 * @param type       {@code stage}, {@code progress}, {@code run}, {@code metric}, {@code done} or {@code failed}
 * @param index      for a stage, its number (1-based); for progress, the units done
 * @param total      for a stage, the number of stages; for progress, the units in all (0: unknown)
 * @param name       a stage's or progress's stage name; a metric's name; a run's name
 * @param unit       for progress, what is counted (steps, documents, ...)
 * @param value      for a metric, its value
 * @param step       for a metric that is a point of a tracked curve, its step; else -1
 * @param run        for a run, its id in the local run store
 * @param experiment for a run, its experiment
 * @param text       for done, what the job wrote; for failed, why it failed
 */
public record ProgressEvent(String job, String type, long index, long total, String name, String unit, double value,
                            long step, String run, String experiment, String text) {
    public static final String SCHEMA = "distillery.progress/1";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The fraction done of a progress event, in [0, 1]; -1 when the total is unknown. */
    public double fraction() {
        return total > 0 ? Math.min(1.0, (double) index / total) : -1;
    }

    /**
     * The event on a line of a job's output, or empty for any other line. A line that claims the schema
     * but is not a well-formed event is an error naming the line and what was expected.
     */
    public static Optional<ProgressEvent> parse(String line, long lineNumber) {
        String s = line.strip();
        if (!s.startsWith("{") || !s.contains(SCHEMA)) {
            return Optional.empty();
        }
        JsonNode n;
        try {
            n = JSON.readTree(s);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("line " + lineNumber + ": a " + SCHEMA + " event that is not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (!SCHEMA.equals(n.path("schema").asText())) {
            return Optional.empty();
        }
        String type = require(n, "type", lineNumber);
        String job = require(n, "job", lineNumber);
        return Optional.ofNullable(switch (type) {
            case "stage" -> new ProgressEvent(job, type, number(n, "index", lineNumber), number(n, "stages", lineNumber),
                    require(n, "stage", lineNumber), null, Double.NaN, -1, null, null, null);
            case "progress" -> new ProgressEvent(job, type, number(n, "done", lineNumber), n.path("total").asLong(0),
                    require(n, "stage", lineNumber), n.path("unit").asText(null), Double.NaN, -1, null, null, null);
            case "metric" -> new ProgressEvent(job, type, 0, 0, require(n, "name", lineNumber), null,
                    value(n, "value", lineNumber), n.has("step") ? number(n, "step", lineNumber) : -1, null, null, null);
            case "run" -> new ProgressEvent(job, type, 0, 0, require(n, "name", lineNumber), null, Double.NaN, -1,
                    require(n, "run", lineNumber), require(n, "experiment", lineNumber), null);
            case "done" -> new ProgressEvent(job, type, 0, 0, null, null, Double.NaN, -1, null, null,
                    n.path("output").asText(null));
            case "failed" -> new ProgressEvent(job, type, 0, 0, null, null, Double.NaN, -1, null, null,
                    n.path("message").asText(""));
            default -> null; // a newer engine's event type
        });
    }

    private static String require(JsonNode n, String field, long line) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new IllegalArgumentException("line " + line + ": field " + field + " is "
                    + (v == null ? "missing" : v.toString()) + ", expected a string");
        }
        return v.asText();
    }

    private static long number(JsonNode n, String field, long line) {
        return (long) value(n, field, line);
    }

    private static double value(JsonNode n, String field, long line) {
        JsonNode v = n.get(field);
        if (v == null || !v.isNumber()) {
            throw new IllegalArgumentException("line " + line + ": field " + field + " is "
                    + (v == null ? "missing" : v.toString()) + ", expected a number");
        }
        return v.asDouble();
    }
}
