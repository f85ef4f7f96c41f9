package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Lines as the engine writes them: made by the engine's own writer, so the two cannot drift apart. */
class ProgressEventTest {
    private static ProgressEvent read(org.distillery.core.progress.ProgressEvent written) {
        return ProgressEvent.parse(written.toJson(), 1).orElseThrow();
    }

    @Test
    void everyTypeTheEngineWrites() {
        assertEquals(new ProgressEvent("distill", "stage", 2, 2, "train", null, Double.NaN, -1, null, null, null),
                read(org.distillery.core.progress.ProgressEvent.stage("distill", "train", 2, 2)));
        ProgressEvent step = read(org.distillery.core.progress.ProgressEvent.progress("distill", "train", 118, 800,
                "steps"));
        assertEquals("steps", step.unit());
        assertEquals(118.0 / 800, step.fraction(), 1e-12);
        ProgressEvent metric = read(org.distillery.core.progress.ProgressEvent.metric("distill", "train/loss",
                2.668225640212236, 40));
        assertEquals("train/loss", metric.name());
        assertEquals(2.668225640212236, metric.value());
        assertEquals(40, metric.step());
        assertEquals(-1, read(org.distillery.core.progress.ProgressEvent.metric("prep", "dedup_ratio", 0.5)).step());
        ProgressEvent run = read(org.distillery.core.progress.ProgressEvent.run("train", "ab12", "demo", "train-demo"));
        assertEquals(new ProgressEvent("train", "run", 0, 0, "train-demo", null, Double.NaN, -1, "ab12", "demo", null),
                run);
        assertEquals("/w/model.ckpt", read(org.distillery.core.progress.ProgressEvent.done("train", "/w/model.ckpt"))
                .text());
        assertEquals("stopped", read(org.distillery.core.progress.ProgressEvent.failed("train", "stopped")).text());
    }

    @Test
    void consoleLinesAndUnknownTypesAreNotEvents() {
        assertTrue(ProgressEvent.parse("WARNING: Using incubator modules: jdk.incubator.vector", 1).isEmpty());
        assertTrue(ProgressEvent.parse("{\"schema\":\"other/1\",\"note\":\"distillery.progress/1\"}", 2).isEmpty());
        assertTrue(ProgressEvent.parse("", 3).isEmpty());
        assertTrue(ProgressEvent.parse("{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"spin\"}", 4)
                .isEmpty());
    }

    @Test
    void brokenEventsNameTheLineAndWhatWasExpected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"progress\",\"stage\":\"train\","
                        + "\"done\":\"x\"}", 7));
        assertEquals("line 7: field done is \"x\", expected a number", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"run\",\"name\":\"r\"}", 8));
        assertEquals("line 8: field run is missing, expected a string", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\", \"job\":", 9));
        assertTrue(e.getMessage().startsWith("line 9: a distillery.progress/1 event that is not valid JSON"),
                e.getMessage());
    }
}
