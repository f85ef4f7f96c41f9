package org.distillery.tracking;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.core.tracking.RunStatus;
import org.distillery.core.tracking.RunTracker;

/**
 * A {@link RunTracker} that journals everything to the {@link LocalRunStore} first and, when an MLflow
 * server is configured, mirrors the journal to it after each batch of metrics. A server that refuses
 * or drops connections costs a warning on stderr, not the run: the journal keeps everything, later
 * batches retry, and {@code distillery runs sync} finishes the job. Metrics are buffered and written
 * in batches of {@value #BATCH}.
 */
public final class TrackedRun implements RunTracker {
    static final int BATCH = 50;
    /** After a failed sync, wait this long before trying the server again. */
    private static final long RETRY_MILLIS = 5_000;

    private final LocalRunStore store;
    private final MlflowSync mirror;
    private final PrintStream warnings;
    private final List<LocalRunStore.Metric> buffer = new ArrayList<>();
    /** The points (key, step) journaled before a resume that redoes steps: see {@link #loggingEachPointOnce}. */
    private final Set<String> journaled = new HashSet<>();
    private LocalRunStore.Meta meta;
    private boolean finished;
    private boolean warned;
    private long nextTry;

    TrackedRun(LocalRunStore store, LocalRunStore.Meta meta, MlflowSync mirror, PrintStream warnings) {
        this.store = store;
        this.meta = meta;
        this.mirror = mirror;
        this.warnings = warnings;
        trySync(true);
    }

    /** Starts a run, or reopens one by id (a resumed job continues its run). */
    public static TrackedRun open(Path storeRoot, String trackingUri, String experiment, String runName,
                                  String parentRunId, String resumeRunId, PrintStream warnings) {
        LocalRunStore store = new LocalRunStore(storeRoot);
        LocalRunStore.Meta meta;
        if (resumeRunId != null) {
            meta = store.find(resumeRunId);
            meta = meta.withStatus("RUNNING", null);
            store.writeMeta(meta);
        } else {
            meta = store.create(experiment, runName, parentRunId);
        }
        MlflowSync mirror = trackingUri == null || trackingUri.isBlank() ? null : new MlflowSync(trackingUri, store);
        return new TrackedRun(store, meta, mirror, warnings);
    }

    @Override
    public String runId() {
        return meta.runId();
    }

    public LocalRunStore.Meta meta() {
        return meta;
    }

    /** The MLflow run id once the run reached the server, else null. */
    public String mlflowRunId() {
        return meta.mlflowRunId();
    }

    @Override
    public synchronized void logParams(Map<String, String> params) {
        store.putParams(meta, params);
        trySync(false);
    }

    @Override
    public synchronized void setTags(Map<String, String> tags) {
        store.putTags(meta, tags);
        trySync(false);
    }

    /**
     * For a resumed job that redoes the steps after its checkpoint (train, distill): points its killed attempt had
     * already journaled (a batch written between checkpoints, the metrics of its end) come again with the same
     * values. They are not logged twice, so the journal, and the MLflow run mirrored from it, hold each point once.
     */
    public synchronized void loggingEachPointOnce() {
        for (LocalRunStore.Metric m : store.metrics(meta)) {
            journaled.add(point(m.key(), m.step()));
        }
    }

    private static String point(String key, long step) {
        return key + '\0' + step;
    }

    @Override
    public synchronized void logMetric(String key, double value, long step) {
        if (!journaled.isEmpty() && journaled.contains(point(key, step))) {
            return;
        }
        buffer.add(new LocalRunStore.Metric(key, value, step, System.currentTimeMillis()));
        if (buffer.size() >= BATCH) {
            flush();
        }
    }

    /** Writes buffered metrics to the journal and mirrors them. */
    @Override
    public synchronized void flush() {
        store.appendMetrics(meta, buffer);
        buffer.clear();
        trySync(false);
    }

    @Override
    public synchronized void logArtifact(Path file, String artifactDir) {
        store.copyArtifact(meta, file, artifactDir);
        trySync(false);
    }

    @Override
    public synchronized void finish(RunStatus status) {
        if (finished) {
            return;
        }
        finished = true;
        store.appendMetrics(meta, buffer);
        buffer.clear();
        long end = System.currentTimeMillis();
        meta = store.update(meta, m -> m.withStatus(status.name(), end));
        trySync(true);
    }

    @Override
    public synchronized void close() {
        finish(RunStatus.FAILED);
        if (mirror != null) {
            mirror.close();
        }
    }

    private void trySync(boolean force) {
        if (mirror == null || (!force && System.currentTimeMillis() < nextTry)) {
            return;
        }
        try {
            meta = mirror.sync(meta);
            if (warned) {
                warnings.println("warning: the MLflow server at " + mirror.uri() + " is back; run " + meta.runId()
                        + " is synced");
                warned = false;
            }
        } catch (RuntimeException e) {
            // MlflowClientException for a refused connection, DistilleryException for a refused upload
            nextTry = System.currentTimeMillis() + RETRY_MILLIS;
            meta = store.reload(meta);
            if (!warned) {
                warnings.println("warning: cannot reach the MLflow server at " + mirror.uri() + " (" + e.getMessage()
                        + "); run " + meta.runId() + " is kept in " + store.runDir(meta)
                        + " and will be synced when it is back, or with: distillery runs sync --to " + mirror.uri());
                warned = true;
            }
        }
    }
}
