package org.distillery.tracking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.core.tracking.RunStatus;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Against a real {@code mlflow server}: what a run logs is what the REST API gives back, outages included. */
class MlflowTrackingTest {
    @TempDir
    static Path tmp;
    static MlflowServer server;

    @BeforeAll
    static void start() throws Exception {
        server = new MlflowServer(tmp.resolve("server")).start();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    static final class Warnings {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

        String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void paramsTagsMetricsArtifactsAndStatusReachTheServer() throws Exception {
        Path store = tmp.resolve("store1");
        Warnings w = new Warnings();
        Path artifact = tmp.resolve("spec.yaml");
        Files.writeString(artifact, "name: demo\n");
        Path report = tmp.resolve("a.md");
        Files.writeString(report, "# report\n");
        String parentId;
        String childMlflowId;
        try (TrackedRun parent = TrackedRun.open(store, server.uri(), "pipeline-demo", "pipeline", null, null, w.out)) {
            parentId = parent.runId();
            try (TrackedRun run = TrackedRun.open(store, server.uri(), "pipeline-demo", "train-demo", parentId, null,
                    w.out)) {
                run.logParams(Map.of("model.n_layer", "4", "optimizer.lr", "0.003"));
                run.setTags(Map.of("distillery.backend", "CpuBackend"));
                for (int step = 1; step <= 120; step++) {
                    run.logMetric("train/loss", 10.0 / step, step);
                }
                run.logArtifact(artifact, "spec");
                // Mirrored already; a later artifact whose name sorts first must follow it to the server.
                run.logArtifact(report, "report");
                run.finish(RunStatus.FINISHED);
                childMlflowId = run.mlflowRunId();
            }
            parent.finish(RunStatus.FINISHED);
        }
        assertEquals("", w.text());
        // A new experiment is looked up by a search, which answers "none", not by a lookup that answers 404: the
        // Java client logs a 404 as a warning ("Rate limit exceeded") and retries it.
        assertTrue(server.log().lines().noneMatch(l -> l.contains("/experiments/") && l.contains(" 404 ")),
                "no experiment request answered 404:\n" + server.log());
        JsonNode run = server.get("/api/2.0/mlflow/runs/get", "run_id", childMlflowId).path("run");
        assertEquals("FINISHED", run.path("info").path("status").asText());
        assertEquals("train-demo", run.path("info").path("run_name").asText());
        Map<String, String> params = new java.util.HashMap<>();
        run.path("data").path("params").forEach(p -> params.put(p.get("key").asText(), p.get("value").asText()));
        assertEquals(Map.of("model.n_layer", "4", "optimizer.lr", "0.003"), params);
        Map<String, String> tags = new java.util.HashMap<>();
        run.path("data").path("tags").forEach(t -> tags.put(t.get("key").asText(), t.get("value").asText()));
        assertEquals("CpuBackend", tags.get("distillery.backend"));
        String parentMlflowId = new LocalRunStore(store).find(parentId).mlflowRunId();
        assertEquals(parentMlflowId, tags.get("mlflow.parentRunId"));
        List<Double> losses = server.metricHistory(childMlflowId, "train/loss");
        assertEquals(120, losses.size());
        assertEquals(10.0 / 120, losses.stream().mapToDouble(Double::doubleValue).min().orElseThrow(), 1e-9);
        assertEquals("name: demo\n", server.getText("/get-artifact", "path", "spec/spec.yaml", "run_uuid", childMlflowId));
        assertEquals("# report\n", server.getText("/get-artifact", "path", "report/a.md", "run_uuid", childMlflowId));
    }

    /** The server goes down mid-run: the run completes, a warning says where the data is, sync loses nothing. */
    @Test
    void serverOutageMidRunLosesNothing() throws Exception {
        Path store = tmp.resolve("store2");
        Warnings w = new Warnings();
        String localId;
        try (TrackedRun run = TrackedRun.open(store, server.uri(), "outage", "train", null, null, w.out)) {
            localId = run.runId();
            run.logParams(Map.of("a", "1"));
            for (int step = 1; step <= 100; step++) {
                run.logMetric("loss", step, step);
            }
            server.stop();
            for (int step = 101; step <= 230; step++) {
                run.logMetric("loss", step, step);
            }
            run.finish(RunStatus.FINISHED);
        }
        assertTrue(w.text().contains("warning: cannot reach the MLflow server at " + server.uri()), w.text());
        assertTrue(w.text().contains("distillery runs sync --to " + server.uri()), w.text());
        LocalRunStore local = new LocalRunStore(store);
        LocalRunStore.Meta meta = local.find(localId);
        assertEquals(230, local.metrics(meta).size());
        assertEquals(100, meta.syncedMetrics());
        assertEquals("FINISHED", meta.status());

        server.start();
        try (MlflowSync sync = new MlflowSync(server.uri(), local)) {
            meta = sync.sync(meta);
            sync.sync(meta); // a second sync sends nothing twice
        }
        List<Double> values = server.metricHistory(meta.mlflowRunId(), "loss");
        List<Double> want = new ArrayList<>();
        for (int step = 1; step <= 230; step++) {
            want.add((double) step);
        }
        values.sort(Double::compare);
        assertEquals(want, values);
        assertEquals("FINISHED", server.get("/api/2.0/mlflow/runs/get", "run_id", meta.mlflowRunId())
                .path("run").path("info").path("status").asText());
    }

    @Test
    void unreachableServerIsAWarningAndTheRunStaysLocal() throws Exception {
        Path store = tmp.resolve("store3");
        Warnings w = new Warnings();
        try (TrackedRun run = TrackedRun.open(store, "http://127.0.0.1:1", "offline", "train", null, null, w.out)) {
            run.logMetric("loss", 1.0, 1);
            run.finish(RunStatus.FINISHED);
            assertNull(run.mlflowRunId());
        }
        assertTrue(w.text().startsWith("warning: cannot reach the MLflow server at http://127.0.0.1:1"), w.text());
        LocalRunStore local = new LocalRunStore(store);
        LocalRunStore.Meta meta = local.list().get(0);
        assertEquals(1, local.metrics(meta).size());
        try (MlflowSync sync = new MlflowSync(server.uri(), local)) {
            assertNotNull(sync.sync(meta).mlflowRunId());
        }
    }

    @Test
    void aRunClosedWithoutFinishingIsFailed() {
        Path store = tmp.resolve("store4");
        try (TrackedRun run = TrackedRun.open(store, null, "crash", "train", null, null, System.err)) {
            run.logMetric("loss", 1.0, 1);
        }
        LocalRunStore local = new LocalRunStore(store);
        LocalRunStore.Meta meta = local.list().get(0);
        assertEquals("FAILED", meta.status());
        assertEquals(1, local.metrics(meta).size());
    }

    /** A run id the server made but the store never recorded (the sync was killed between the two): no second copy. */
    @Test
    void aSyncKilledBeforeTheStoreRecordedTheServersRunReusesThatRun() throws Exception {
        Path store = tmp.resolve("store5");
        try (TrackedRun run = TrackedRun.open(store, null, "killed-sync", "train", null, null, System.err)) {
            run.logParams(Map.of("a", "1"));
            run.logMetric("loss", 2.0, 1);
            run.finish(RunStatus.FINISHED);
        }
        LocalRunStore local = new LocalRunStore(store);
        LocalRunStore.Meta meta = local.list().get(0);
        String first;
        try (MlflowSync sync = new MlflowSync(server.uri(), local)) {
            first = sync.sync(meta).mlflowRunId();
            meta = local.update(meta, m -> m.withSync(null, null, 0, List.of(), 0)); // as if never recorded
            assertEquals(first, sync.sync(meta).mlflowRunId());
        }
        String experiment = server.get("/api/2.0/mlflow/experiments/get-by-name", "experiment_name", "killed-sync")
                .path("experiment").path("experiment_id").asText();
        try (org.mlflow.tracking.MlflowClient client = new org.mlflow.tracking.MlflowClient(server.uri())) {
            assertEquals(1, client.listRunInfos(experiment).size(), "runs on the server");
        }
        assertEquals(List.of(2.0), server.metricHistory(first, "loss"));
    }

    /** A resumed job redoes the steps after its checkpoint; the points its killed attempt journaled stay once. */
    @Test
    void aResumedRunThatRedoesStepsJournalsEachPointOnce() {
        Path store = tmp.resolve("store6");
        String id;
        try (TrackedRun run = TrackedRun.open(store, null, "redo", "train", null, null, System.err)) {
            id = run.runId();
            for (int step = 1; step <= 60; step++) { // a batch of 50 reaches the journal: steps 1 to 50
                run.logMetric("loss", step, step);
            }
        }
        try (TrackedRun run = TrackedRun.open(store, null, "redo", "train", null, id, System.err)) {
            run.loggingEachPointOnce();
            for (int step = 41; step <= 70; step++) { // resumed from a checkpoint at step 40
                run.logMetric("loss", step, step);
            }
            run.finish(RunStatus.FINISHED);
        }
        LocalRunStore local = new LocalRunStore(store);
        List<Long> steps = local.metrics(local.find(id)).stream().map(LocalRunStore.Metric::step).sorted().toList();
        assertEquals(java.util.stream.LongStream.rangeClosed(1, 70).boxed().toList(), steps);
    }
}
