package org.distillery.core.tracking;

import java.nio.file.Path;
import java.util.Map;

/**
 * Where a job records what it did: one run with its params, tags, metrics by step, artifacts and
 * final status, in MLflow's model. Jobs only see this interface; the tracking module puts the local
 * run store and an MLflow server behind it. Implementations buffer and never throw for a tracking
 * server that is down: losing the server must not lose the job.
 */
public interface RunTracker extends AutoCloseable {
    /** A tracker that records nothing, for a job whose run {@code runId} is tracked elsewhere (ranks but rank 0). */
    static RunTracker none(String runId) {
        return new RunTracker() {
            @Override
            public String runId() {
                return runId;
            }

            @Override
            public void logParams(Map<String, String> params) {
            }

            @Override
            public void setTags(Map<String, String> tags) {
            }

            @Override
            public void logMetric(String key, double value, long step) {
            }

            @Override
            public void flush() {
            }

            @Override
            public void logArtifact(Path file, String artifactDir) {
            }

            @Override
            public void finish(RunStatus status) {
            }

            @Override
            public void close() {
            }
        };
    }

    /** The run's id (MLflow's run id once synced, or the local store's). */
    String runId();

    void logParams(Map<String, String> params);

    void setTags(Map<String, String> tags);

    void logMetric(String key, double value, long step);

    /**
     * Makes every metric logged so far durable in the local journal. Jobs call it with each
     * checkpoint: a killed job resumes after its last checkpoint, so the metrics of the steps before
     * it must not wait in a buffer.
     */
    void flush();

    /** Copies a file into the run's artifacts under {@code artifactDir} ("" for the root). */
    void logArtifact(Path file, String artifactDir);

    /** Ends the run; a tracker that is closed without this ends it as FAILED. */
    void finish(RunStatus status);

    @Override
    void close();
}
