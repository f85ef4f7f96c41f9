package org.distillery.workbench.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Lines as a distillery job prints them (taken from a distill run's output). */
class ProgressEventTest {
    @Test
    void stageProgressAndMetricLines() {
        ProgressEvent stage = ProgressEvent.parse("{\"schema\":\"distillery.progress/1\",\"ts\":\"2026-11-23T20:04:20Z\","
                + "\"job\":\"distill\",\"type\":\"stage\",\"stage\":\"train\",\"index\":2,\"stages\":2}", 1).orElseThrow();
        assertEquals(new ProgressEvent("distill", "stage", 2, 2, "train", null, Double.NaN), stage);
        ProgressEvent step = ProgressEvent.parse("{\"schema\":\"distillery.progress/1\",\"ts\":\"2026-11-23T20:04:30Z\","
                + "\"job\":\"distill\",\"type\":\"progress\",\"stage\":\"train\",\"done\":118,\"total\":800,"
                + "\"unit\":\"steps\"}", 2).orElseThrow();
        assertEquals("steps", step.unit());
        assertEquals(118.0 / 800, step.fraction(), 1e-12);
        ProgressEvent metric = ProgressEvent.parse("{\"schema\":\"distillery.progress/1\",\"ts\":\"2026-11-23T20:04:51Z\","
                + "\"job\":\"distill\",\"type\":\"metric\",\"name\":\"train/loss\",\"value\":2.668225640212236}", 3)
                .orElseThrow();
        assertEquals("train/loss", metric.name());
        assertEquals(2.668225640212236, metric.value());
    }

    @Test
    void consoleLinesAreNotEvents() {
        assertTrue(ProgressEvent.parse("WARNING: Using incubator modules: jdk.incubator.vector", 1).isEmpty());
        assertTrue(ProgressEvent.parse("{\"schema\":\"other/1\",\"note\":\"distillery.progress/1\"}", 2).isEmpty());
        assertTrue(ProgressEvent.parse("", 3).isEmpty());
    }

    @Test
    void brokenEventsNameTheLineAndWhatWasExpected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"progress\",\"stage\":\"train\","
                        + "\"done\":\"x\"}", 7));
        assertEquals("line 7: field done is \"x\", expected a number", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\",\"job\":\"train\",\"type\":\"spin\"}", 8));
        assertEquals("line 8: type is 'spin', expected stage, progress or metric", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ProgressEvent.parse(
                "{\"schema\":\"distillery.progress/1\", \"job\":", 9));
        assertTrue(e.getMessage().startsWith("line 9: a distillery.progress/1 event that is not valid JSON"),
                e.getMessage());
    }
}
