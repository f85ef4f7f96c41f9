package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stores written by the engine's own tracking code, then read back the way the workbench reads them. */
class LocalRunsTest {
    @TempDir
    Path tmp;

    @Test
    void readsWhatTheEngineWrites() throws Exception {
        Path root = tmp.resolve("runs");
        String teacherId;
        try (TrackedRun teacher = TrackedRun.open(root, null, "kd demo", "train-teacher", null, null, System.err)) {
            teacherId = teacher.runId();
            teacher.logParams(Map.of("model.n_layer", "4", "optimizer.lr", "0.003"));
            for (int step = 1; step <= 5; step++) {
                teacher.logMetric("train/loss", 8.0 - step, step);
            }
            teacher.logMetric("val/loss", 4.5, 5);
            teacher.finish(RunStatus.FINISHED);
        }
        try (TrackedRun student = TrackedRun.open(root, null, "kd demo", "distill-student", null, null, System.err)) {
            student.logMetric("train/loss", 9.0, 1);
            student.flush();
            LocalRuns store = new LocalRuns(root);
            List<RunInfo> runs = store.runs();
            assertEquals(List.of("train-teacher", "distill-student"), runs.stream().map(RunInfo::name).toList());
            RunInfo t = runs.get(0);
            assertEquals("FINISHED", t.status());
            assertEquals("kd demo", t.experiment());
            assertTrue(t.is(teacherId));
            assertTrue(t.endTime() >= t.startTime());
            assertEquals(Map.of("model.n_layer", "4", "optimizer.lr", "0.003"), store.params(t));
            Map<String, SortedMap<Long, Double>> metrics = store.metrics(t);
            assertEquals(List.of(1L, 2L, 3L, 4L, 5L), List.copyOf(metrics.get("train/loss").keySet()));
            assertEquals(3.0, metrics.get("train/loss").get(5L));
            assertEquals(4.5, metrics.get("val/loss").get(5L));
            RunInfo s = runs.get(1);
            assertTrue(s.running(), "a run still open reads as RUNNING");
            assertEquals(Map.of(1L, 9.0), store.metrics(s).get("train/loss"));

            // A job killed while appending leaves half a line; a resumed run logs a step again: the last value wins.
            Path journal = root.resolve("kd_demo").resolve(s.id()).resolve("metrics.jsonl");
            Files.writeString(journal, "{\"key\":\"train/loss\",\"value\":8.5,\"step\":1,\"timestamp\":1}\n{\"key\":\"tr",
                    StandardOpenOption.APPEND);
            assertEquals(Map.of(1L, 8.5), store.metrics(s).get("train/loss"));
        }
    }

    @Test
    void anEmptyOrMissingStoreHasNoRuns() {
        assertEquals(List.of(), new LocalRuns(tmp.resolve("none")).runs());
    }

    @Test
    void badFilesAreNamedWithWhatWasExpected() throws Exception {
        Path run = tmp.resolve("runs/exp/r1");
        Files.createDirectories(run);
        Files.writeString(run.resolve("meta.json"), "{\"format\":\"distillery.runs/9\",\"run_id\":\"r1\"}");
        RunStoreException e = assertThrows(RunStoreException.class, () -> new LocalRuns(tmp.resolve("runs")).runs());
        assertEquals(run.resolve("meta.json") + ": format is 'distillery.runs/9', expected distillery.runs/1", e.getMessage());
        Files.writeString(run.resolve("meta.json"), "{\"format\":\"distillery.runs/1\",\"run_id\":\"r1\",\"experiment\":\"exp\","
                + "\"status\":\"RUNNING\"}");
        RunInfo r = new LocalRuns(tmp.resolve("runs")).runs().get(0);
        Files.writeString(run.resolve("metrics.jsonl"), "{\"key\":\"a\",\"value\":\"high\",\"step\":1}\n");
        e = assertThrows(RunStoreException.class, () -> new LocalRuns(tmp.resolve("runs")).metrics(r));
        assertTrue(e.getMessage().startsWith(run.resolve("metrics.jsonl") + ": line 1 is no metric"), e.getMessage());
    }
}
