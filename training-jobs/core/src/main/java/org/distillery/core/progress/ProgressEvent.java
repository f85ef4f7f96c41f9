package org.distillery.core.progress;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;

/**
 * One progress event of a job, written as one JSON line (schema {@value #SCHEMA}, documented in
 * docs/progress-events.md). The workbench and scripts read these; nothing else couples them to a job.
 *
 * <ul>
 *   <li>{@code stage}: a step of the job starts ({@code stage}, {@code index} of {@code stages});</li>
 *   <li>{@code progress}: {@code done} of {@code total} {@code unit}s within the current stage;</li>
 *   <li>{@code metric}: a named figure ({@code name}, {@code value});</li>
 *   <li>{@code done}: the job finished; {@code output} names what it wrote;</li>
 *   <li>{@code failed}: the job failed; {@code message} says why (also printed on stderr).</li>
 * </ul>
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ProgressEvent(String schema, String ts, String job, String type, String stage, Integer index,
                            Integer stages, Long done, Long total, String unit, String name, Double value,
                            String output, String message) {

    public static final String SCHEMA = "distillery.progress/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static ProgressEvent stage(String job, String stage, int index, int stages) {
        return new ProgressEvent(SCHEMA, now(), job, "stage", stage, index, stages, null, null, null, null, null, null,
                null);
    }

    public static ProgressEvent progress(String job, String stage, long done, long total, String unit) {
        return new ProgressEvent(SCHEMA, now(), job, "progress", stage, null, null, done, total, unit, null, null, null,
                null);
    }

    public static ProgressEvent metric(String job, String name, double value) {
        return new ProgressEvent(SCHEMA, now(), job, "metric", null, null, null, null, null, null, name, value, null,
                null);
    }

    public static ProgressEvent done(String job, String output) {
        return new ProgressEvent(SCHEMA, now(), job, "done", null, null, null, null, null, null, null, null, output,
                null);
    }

    public static ProgressEvent failed(String job, String message) {
        return new ProgressEvent(SCHEMA, now(), job, "failed", null, null, null, null, null, null, null, null, null,
                message);
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static ProgressEvent parse(String line) {
        try {
            return JSON.readValue(line, ProgressEvent.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a progress event: " + line, e);
        }
    }

    private static String now() {
        return Instant.now().toString();
    }
}
