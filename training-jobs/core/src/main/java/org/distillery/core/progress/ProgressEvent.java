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
 *   <li>{@code run}: the job's tracked run is open: {@code run} (its id in the local run store),
 *       {@code experiment}, and its name in {@code name};</li>
 *   <li>{@code metric}: a named figure ({@code name}, {@code value}; {@code step} where it is one point of
 *       a curve, as in the run's tracked metrics);</li>
 *   <li>{@code done}: the job finished; {@code output} names what it wrote;</li>
 *   <li>{@code failed}: the job failed; {@code message} says why (also printed on stderr).</li>
 * </ul>
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ProgressEvent(String schema, String ts, String job, String type, String stage, Integer index,
                            Integer stages, Long done, Long total, String unit, String name, Double value,
                            String output, String message, String run, String experiment, Long step) {

    public static final String SCHEMA = "distillery.progress/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static ProgressEvent stage(String job, String stage, int index, int stages) {
        return new ProgressEvent(SCHEMA, now(), job, "stage", stage, index, stages, null, null, null, null, null, null,
                null, null, null, null);
    }

    public static ProgressEvent progress(String job, String stage, long done, long total, String unit) {
        return new ProgressEvent(SCHEMA, now(), job, "progress", stage, null, null, done, total, unit, null, null, null,
                null, null, null, null);
    }

    public static ProgressEvent metric(String job, String name, double value) {
        return new ProgressEvent(SCHEMA, now(), job, "metric", null, null, null, null, null, null, name, value, null,
                null, null, null, null);
    }

    /** A point of a curve: the metric as the run tracks it at {@code step}. */
    public static ProgressEvent metric(String job, String name, double value, long step) {
        return new ProgressEvent(SCHEMA, now(), job, "metric", null, null, null, null, null, null, name, value, null,
                null, null, null, step);
    }

    /** The job's tracked run, so that a reader can match the job's live metrics to the run's stored ones. */
    public static ProgressEvent run(String job, String runId, String experiment, String runName) {
        return new ProgressEvent(SCHEMA, now(), job, "run", null, null, null, null, null, null, runName, null, null,
                null, runId, experiment, null);
    }

    public static ProgressEvent done(String job, String output) {
        return new ProgressEvent(SCHEMA, now(), job, "done", null, null, null, null, null, null, null, null, output,
                null, null, null, null);
    }

    public static ProgressEvent failed(String job, String message) {
        return new ProgressEvent(SCHEMA, now(), job, "failed", null, null, null, null, null, null, null, null, null,
                message, null, null, null);
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
