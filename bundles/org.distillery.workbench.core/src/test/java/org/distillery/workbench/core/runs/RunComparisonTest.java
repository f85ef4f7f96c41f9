package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs written by the engine's tracking code, read back through a store and compared. */
class RunComparisonTest {
    @TempDir
    Path tmp;

    private RunComparison twoRuns() throws Exception {
        Path root = tmp.resolve("runs");
        try (TrackedRun a = TrackedRun.open(root, null, "kd", "train-teacher", null, null, System.err)) {
            a.logParams(Map.of("model.n_layer", "4", "optimizer.lr", "0.003", "training.batch_size", "12",
                    "model.block_size", "64", "seed", "1"));
            double[] loss = {6.0, 5.0, 4.2, 4.4};
            for (int i = 0; i < loss.length; i++) {
                a.logMetric("train/loss", loss[i], (i + 1) * 10L);
            }
            a.logMetric("val/loss", 4.6, 40);
            a.logMetric("train/tokens_per_second", 900, 20);
            a.logMetric("train/tokens_per_second", 1100, 40);
            a.finish(RunStatus.FINISHED);
        }
        try (TrackedRun b = TrackedRun.open(root, null, "kd", "distill-student", null, null, System.err)) {
            b.logParams(Map.of("student.n_layer", "2", "optimizer.lr", "0.003", "training.batch_size", "12",
                    "training.grad_accum", "2", "distributed.ranks", "2", "teacher_checkpoint.model.block_size", "64",
                    "seed", "2"));
            b.logMetric("train/loss", 7.0, 10);
            b.logMetric("train/loss", 5.5, 20);
            b.finish(RunStatus.FINISHED);
        }
        LocalRuns store = new LocalRuns(root);
        return new RunComparison(store.runs().stream().map(r -> RunComparison.Member.read(store, r)).toList());
    }

    @Test
    void paramsInAColumnPerRunWithTheDifferencesMarked() throws Exception {
        RunComparison c = twoRuns();
        assertEquals(List.of("kd / train-teacher", "kd / distill-student"), c.labels());
        List<RunComparison.ParamRow> all = c.params(false);
        RunComparison.ParamRow lr = all.stream().filter(r -> r.key().equals("optimizer.lr")).findFirst().orElseThrow();
        assertEquals(List.of("0.003", "0.003"), lr.values());
        assertFalse(lr.differs());
        RunComparison.ParamRow layers = all.stream().filter(r -> r.key().equals("model.n_layer")).findFirst()
                .orElseThrow();
        assertEquals(Arrays.asList("4", null), layers.values(), "a param one run lacks is null in the other's column");
        assertTrue(layers.differs());
        assertEquals(List.of("distributed.ranks", "model.block_size", "model.n_layer", "seed", "student.n_layer",
                "teacher_checkpoint.model.block_size", "training.grad_accum"),
                c.params(true).stream().map(RunComparison.ParamRow::key).toList(), "differences only");
    }

    @Test
    void metricsLastAndBestWithTheirSteps() throws Exception {
        RunComparison c = twoRuns();
        Map<String, RunComparison.MetricRow> rows = new java.util.TreeMap<>();
        c.metrics().forEach(r -> rows.put(r.key(), r));
        assertEquals(List.of("train/loss", "train/tokens_per_second", "val/loss"), List.copyOf(rows.keySet()));
        RunComparison.MetricRow loss = rows.get("train/loss");
        assertTrue(loss.lowerIsBetter());
        assertEquals(new RunComparison.Summary(4.4, 40, 4.2, 30), loss.values().get(0));
        assertEquals(new RunComparison.Summary(5.5, 20, 5.5, 20), loss.values().get(1));
        RunComparison.MetricRow speed = rows.get("train/tokens_per_second");
        assertFalse(speed.lowerIsBetter(), "throughput is better high");
        assertEquals(new RunComparison.Summary(1100, 40, 1100, 40), speed.values().get(0));
        assertNull(rows.get("val/loss").values().get(1), "the student logged no val/loss");
        assertTrue(RunComparison.validation("val/loss"));
        assertFalse(RunComparison.validation("train/loss"));
    }

    @Test
    void curvesAgainstStepsTokensAndWallTime() throws Exception {
        RunComparison c = twoRuns();
        RunComparison.Member teacher = c.members().get(0);
        RunComparison.Member student = c.members().get(1);
        List<MetricPoint> t = teacher.history().get("train/loss");
        assertArrayEquals(new double[] {10, 20, 30, 40}, RunComparison.Axis.STEP.x(teacher, t));
        assertEquals(12 * 64, teacher.tokensPerStep());
        assertArrayEquals(new double[] {7680, 15360, 23040, 30720}, RunComparison.Axis.TOKENS.x(teacher, t));
        assertEquals(12 * 2 * 2 * 64, student.tokensPerStep(), "batch x accumulation x ranks x the teacher's block");
        double[] wall = RunComparison.Axis.WALL_TIME.x(teacher, t);
        assertTrue(wall[0] >= 0 && wall[3] >= wall[0], Arrays.toString(wall));
        RunComparison.Member bare = new RunComparison.Member("x", teacher.run(), Map.of(), teacher.history());
        assertNull(RunComparison.Axis.TOKENS.x(bare, t), "no params, no tokens");
    }

    @Test
    void twoRunsOfOneNameAreToldApartAndOneRunIsNoComparison() throws Exception {
        RunComparison c = twoRuns();
        RunComparison.Member m = c.members().get(0);
        RunInfo r = m.run();
        RunInfo same = new RunInfo("0123456789abcdef", r.experiment(), r.name(), r.status(), r.startTime(), r.endTime(),
                null, null);
        List<String> labels = new RunComparison(List.of(m, new RunComparison.Member("mlflow", same, Map.of(),
                Map.of()))).labels();
        assertEquals("kd / train-teacher (01234567)", labels.get(1));
        assertTrue(labels.get(0).startsWith("kd / train-teacher ("), labels.toString());
        assertThrows(IllegalArgumentException.class, () -> new RunComparison(List.of(m)));
    }

    @Test
    void aComparisonIsReadAgainFromItsRefsAndRememberedAcrossSessions() throws Exception {
        RunComparison c = twoRuns();
        LocalRuns store = new LocalRuns(tmp.resolve("runs"));
        List<RunRef> refs = c.members().stream().map(m -> RunRef.of(store, m.run())).toList();
        RunComparison again = RunRef.compare(List.of(refs.get(1), refs.get(0)));
        assertEquals(List.of("kd / distill-student", "kd / train-teacher"), again.labels(), "in the order asked");
        RunStoreException gone = assertThrows(RunStoreException.class, () -> RunRef.compare(List.of(refs.get(0),
                new RunRef(false, store.location(), "feedbeef"))));
        assertTrue(gone.getMessage().contains("feedbeef") && gone.getMessage().contains(store.location()),
                gone.getMessage());

        SavedComparison saved = new SavedComparison(refs, c.labels(), List.of("train/loss", "val/loss"),
                RunComparison.Axis.TOKENS, true);
        SavedComparison other = new SavedComparison(List.of(refs.get(1), refs.get(0)), List.of("b", "a"), List.of(),
                RunComparison.Axis.STEP, false);
        List<SavedComparison> recent = SavedComparison.remember(SavedComparison.remember(List.of(), saved), other);
        recent = SavedComparison.remember(recent, saved); // reopened: first again, not twice
        List<SavedComparison> back = SavedComparison.read(SavedComparison.write(recent));
        assertEquals(List.of(saved, other), back);
        assertEquals("kd / train-teacher vs kd / distill-student", back.get(0).title());
        assertEquals(List.of(), SavedComparison.read("{not json"), "a damaged preference reads as none");
    }
}
