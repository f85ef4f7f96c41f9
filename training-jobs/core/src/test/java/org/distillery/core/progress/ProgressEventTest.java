package org.distillery.core.progress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The one reader of progress events, which the engine's tests and the workbench use: every event read back
 * from the line the engine writes, console lines and unknown types skipped, broken events named by line.
 */
class ProgressEventTest {
    private static ProgressEvent read(ProgressEvent written) {
        return ProgressEvent.read(written.toJson(), 1).orElseThrow();
    }

    @Test
    void everyTypeTheEngineWrites() {
        ProgressEvent.Stage stage = ProgressEvent.stage("distill", "train", 2, 2);
        assertEquals(stage, read(stage));
        ProgressEvent.Progress step = (ProgressEvent.Progress) read(ProgressEvent.progress("distill", "train", 118, 800,
                "steps"));
        assertEquals("steps", step.unit());
        assertEquals(118.0 / 800, step.fraction(), 1e-12);
        ProgressEvent.Metric metric = (ProgressEvent.Metric) read(ProgressEvent.metric("distill", "train/loss",
                2.668225640212236, 40));
        assertEquals("train/loss", metric.name());
        assertEquals(2.668225640212236, metric.value());
        assertEquals(40L, metric.step());
        assertNull(((ProgressEvent.Metric) read(ProgressEvent.metric("prep", "dedup_ratio", 0.5))).step());
        ProgressEvent.Run run = ProgressEvent.run("train", "ab12", "demo", "train-demo");
        assertEquals(run, read(run));
        ProgressEvent.Cluster app = ProgressEvent.cluster("train", "app-20261130-0001", "spark://127.0.0.1:7077",
                "http://127.0.0.1:4040", 2);
        assertEquals(app, read(app));
        ProgressEvent.Cluster local = ProgressEvent.cluster("prep", "local-1796", "local[2]", null, 0);
        assertEquals(local, read(local), "no web UI on a local master");
        assertEquals("/w/model.ckpt", ((ProgressEvent.Done) read(ProgressEvent.done("train", "/w/model.ckpt"))).output());
        assertEquals("stopped", ((ProgressEvent.Failed) read(ProgressEvent.failed("train", "stopped"))).message());
    }

    @Test
    void theLineIsTheDocumentedSchema() {
        String line = ProgressEvent.progress("prep", "dedup-near", 12, 40, "tasks").toJson();
        assertTrue(line.matches("\\{\"schema\":\"distillery\\.progress/1\",\"ts\":\"[^\"]+\",\"job\":\"prep\","
                + "\"type\":\"progress\",\"stage\":\"dedup-near\",\"done\":12,\"total\":40,\"unit\":\"tasks\"}"), line);
        assertEquals(-1, new ProgressEvent.Progress("prep", "", "read", 3, 0, null).fraction());
    }

    @Test
    void consoleLinesAndUnknownTypesAreNotEvents() {
        assertTrue(ProgressEvent.read("WARNING: Using incubator modules: jdk.incubator.vector", 1).isEmpty());
        assertTrue(ProgressEvent.read("{\"schema\":\"other/1\",\"note\":\"distillery.progress/1\"}", 2).isEmpty());
        assertTrue(ProgressEvent.read("", 3).isEmpty());
        assertTrue(ProgressEvent.read("{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"spin\"}", 4)
                .isEmpty());
        assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse("a console line"));
    }

    @Test
    void brokenEventsNameTheLineAndWhatWasExpected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.read(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"progress\",\"stage\":\"train\","
                        + "\"done\":\"x\"}", 7));
        assertEquals("line 7: field done is \"x\", expected a number", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.read(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"run\",\"name\":\"r\"}", 8));
        assertEquals("line 8: field run is missing, expected a string", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.read(
                "{\"schema\":\"distillery.progress/1\", \"job\":", 9));
        assertTrue(e.getMessage().startsWith("line 9: a distillery.progress/1 event that is not valid JSON"),
                e.getMessage());
    }
}
