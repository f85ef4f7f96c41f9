package org.distillery.model.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunStatus;
import org.distillery.core.tracking.RunTracker;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Also the distillation tests' fixtures: a tiny prep output, specs, a metric recorder. */
public class TrainJobTest {
    @TempDir
    static Path tmp;
    public static Path data;

    @BeforeAll
    static void data() throws IOException {
        data = TinyPrep.write(tmp.resolve("prep"), 200, false);
    }

    public static Path spec(Path dir, String name, int steps, String extra) throws IOException {
        Path f = dir.resolve(name + ".yaml");
        Files.writeString(f, """
                name: %s
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: %d, batch_size: 8, log_every: 1}
                eval: {every: 10, batches: 2}
                checkpoints: {every: 5, keep: 10}
                %s
                """.formatted(name, data, steps, extra));
        return f;
    }

    /** Records metrics as the tracking store would see them. */
    public static final class Recorder implements RunTracker {
        public final Map<String, TreeMap<Long, Double>> metrics = new TreeMap<>();

        @Override
        public String runId() {
            return "test-run";
        }

        @Override
        public void logParams(Map<String, String> params) {
        }

        @Override
        public void flush() {
        }

        public final Map<String, String> tags = new TreeMap<>();

        @Override
        public void setTags(Map<String, String> tags) {
            this.tags.putAll(tags);
        }

        @Override
        public void logMetric(String key, double value, long step) {
            metrics.computeIfAbsent(key, k -> new TreeMap<>()).put(step, value);
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
    }

    public static TrainJob.Result train(Path spec, Path out, boolean resume, Recorder rec) throws IOException {
        return train(spec, out, resume, rec, ProgressListener.NONE);
    }

    public static TrainJob.Result train(Path spec, Path out, boolean resume, Recorder rec, ProgressListener progress)
            throws IOException {
        return new TrainJob(SpecReader.readLocated(spec, TrainSpec.class), data,
                JobContext.of(out, rec, "test").resuming(resume).reportingTo(progress)).run();
    }

    /** Stands for a kill: the job dies as step {@code at} completes, before that step's metrics or checkpoint. */
    public static ProgressListener crashAt(long at) {
        return e -> {
            if (e instanceof ProgressEvent.Progress p && p.done() == at) {
                throw new IllegalStateException("crash at step " + at);
            }
        };
    }

    @Test
    void learnsWellBelowTheUnigramEntropy() throws IOException {
        Recorder rec = new Recorder();
        TrainJob.Result r = train(spec(tmp, "learn", 200, ""), tmp.resolve("learn"), false, rec);
        assertTrue(Files.exists(r.model()));
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.5,
                "val loss " + r.valLoss() + " vs unigram entropy " + r.unigramEntropy());
        double first = rec.metrics.get("train/loss").firstEntry().getValue();
        assertTrue(r.trainLoss() < first - 1.5, "loss fell from " + first + " to " + r.trainLoss());
    }

    /**
     * training.precision: bf16. On a CPU without bf16 instructions the job says so in one line naming the field and
     * trains in fp32: the fp32 run's losses, bit for bit. With MKL's emulation forced (or on a CPU with bf16) the
     * products are bf16: other losses than fp32's, within 1% of them (the bound after 300 steps, here 20).
     */
    @Test
    void bf16ProductsWhereTheCpuHasThemAndOneLineWhereItHasNot() throws IOException {
        Recorder fp32 = new Recorder();
        train(spec(tmp, "fp32", 20, ""), tmp.resolve("fp32"), false, fp32);
        assertEquals("fp32", fp32.tags.get("distillery.precision"));

        Recorder asked = new Recorder();
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        trainBf16("asked", asked, err);
        if (org.distillery.core.process.Processor.current().bf16()) {
            assertEquals("bf16", asked.tags.get("distillery.precision"), err.toString());
        } else {
            List<String> lines = err.toString().lines().filter(l -> l.contains("training.precision")).toList();
            assertEquals(1, lines.size(), err.toString());
            assertTrue(lines.get(0).matches("warning: .*bf16\\.yaml:\\d+: training\\.precision: bf16: this CPU \\(.+\\) has "
                    + "no bf16 instructions \\(avx512_bf16 or amx_bf16\\): the matrix products run in fp32"), lines.get(0));
            assertEquals("fp32", asked.tags.get("distillery.precision"));
            assertEquals(fp32.metrics.get("train/loss"), asked.metrics.get("train/loss"), "fp32's losses exactly");
        }

        Recorder emulated = new Recorder();
        System.setProperty(org.distillery.model.MatmulPrecision.EMULATE_PROPERTY, "emulate");
        try {
            trainBf16("emulated", emulated, new java.io.ByteArrayOutputStream());
        } finally {
            System.clearProperty(org.distillery.model.MatmulPrecision.EMULATE_PROPERTY);
        }
        assertEquals("bf16", emulated.tags.get("distillery.precision"));
        double want = fp32.metrics.get("train/loss").get(20L);
        double got = emulated.metrics.get("train/loss").get(20L);
        assertTrue(!fp32.metrics.get("train/loss").equals(emulated.metrics.get("train/loss")), "bf16 losses differ");
        assertEquals(want, got, want * 0.01, "train/loss at step 20, bf16 against fp32");
    }

    private void trainBf16(String name, Recorder rec, java.io.ByteArrayOutputStream warnings) throws IOException {
        Path f = spec(tmp, name, 20, "");
        Path bf = tmp.resolve("bf16.yaml");
        Files.writeString(bf, Files.readString(f).replace("log_every: 1}", "log_every: 1, precision: bf16}"));
        new TrainJob(SpecReader.readLocated(bf, TrainSpec.class), data, JobContext.of(tmp.resolve(name), rec, "test")
                .warningTo(new java.io.PrintStream(warnings, true, java.nio.charset.StandardCharsets.UTF_8))).run();
    }

    public static final String LLAMA = "model: {arch: llama, n_layer: 2, n_head: 4, n_kv_head: 2, n_embd: 32, block_size: 32,"
            + " intermediate_size: 64}";

    /**
     * A Llama-family model trains on the same loop: it learns, its checkpoints record the architecture, and a run
     * killed after a checkpoint resumes onto the uninterrupted run's curve.
     */
    @Test
    void aLlamaModelLearnsCheckpointsItsArchitectureAndResumes() throws IOException {
        Recorder rec = new Recorder();
        Path learn = spec(tmp, "llama-learn", 150, "").toAbsolutePath();
        Files.writeString(learn, Files.readString(learn).replace("model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}",
                LLAMA));
        TrainJob.Result r = train(learn, tmp.resolve("llama-learn"), false, rec);
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.5,
                "val loss " + r.valLoss() + " vs unigram entropy " + r.unigramEntropy());
        org.distillery.model.GptConfig c = org.distillery.model.Checkpoint.read(r.model()).header().model();
        assertEquals(new org.distillery.model.GptConfig(2, 4, 32, 32, c.vocabSize(), 0.0,
                new org.distillery.model.GptConfig.Llama(2, 64, 10000, 1e-5, false, false)), c);

        Recorder whole = new Recorder();
        Path wholeSpec = spec(tmp, "llama-whole", 12, LLAMA);
        Files.writeString(wholeSpec, Files.readString(wholeSpec).replace(
                "model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}\n", ""));
        train(wholeSpec, tmp.resolve("llama-whole"), false, whole);
        Path parted = tmp.resolve("llama-parted.yaml");
        Files.writeString(parted, Files.readString(wholeSpec).replace("name: llama-whole", "name: llama-parted"));
        assertThrows(IllegalStateException.class, () -> train(parted, tmp.resolve("llama-parted"), false,
                new Recorder(), crashAt(8)));
        Recorder rest = new Recorder();
        train(parted, tmp.resolve("llama-parted"), true, rest);
        assertEquals(6L, rest.metrics.get("train/loss").firstKey());
        for (long step = 6; step <= 12; step++) {
            double want = whole.metrics.get("train/loss").get(step);
            assertEquals(want, rest.metrics.get("train/loss").get(step), Math.abs(want) * 1e-5, "step " + step);
        }
    }

    /**
     * A checkpoint with weights alone (an import, or a model copied in) among a run's: resuming from it is an error
     * naming it, not a NullPointerException on its missing training state.
     */
    @Test
    void resumingFromACheckpointWithoutOptimizerStateNamesIt() throws IOException {
        Path spec = spec(tmp, "weights-only", 5, "");
        Path out = tmp.resolve("weights-only");
        train(spec, out, false, new Recorder());
        Path newest = TrainJob.newestCheckpoint(out);
        Checkpoint ck = Checkpoint.read(newest);
        new Checkpoint(ck.header().withTraining(null), Map.of(Checkpoint.PARAMS, ck.section(Checkpoint.PARAMS)))
                .write(newest);
        DistilleryException e = assertThrows(DistilleryException.class, () -> train(spec, out, true, new Recorder()));
        assertTrue(e.getMessage().startsWith(newest + ": has no optimizer state (header training, sections adam.m"
                + " and adam.v)") && !e.getMessage().contains("\n"), e.getMessage());
    }

    /**
     * A run stopped after a checkpoint and resumed follows the uninterrupted run's loss curve. Data order
     * and dropout derive from (seed, step), and the optimizer state is restored bit for bit, so the only
     * possible difference is floating-point: the tolerance (1e-5 relative) allows for BLAS choosing
     * another summation order, nothing more.
     */
    @Test
    void resumedRunFollowsTheUninterruptedLossCurve() throws IOException {
        Recorder whole = new Recorder();
        train(spec(tmp, "whole", 20, ""),
                tmp.resolve("whole"), false, whole);
        Recorder first = new Recorder();
        Path parted = spec(tmp, "parted", 20, "");
        assertThrows(IllegalStateException.class, () -> train(parted, tmp.resolve("parted"), false, first, crashAt(13)));
        assertEquals(12L, first.metrics.get("train/loss").lastKey());
        Recorder rest = new Recorder();
        TrainJob.Result r = train(parted, tmp.resolve("parted"), true, rest);
        assertTrue(r.resumed());
        assertEquals(11L, rest.metrics.get("train/loss").firstKey());
        for (long step = 1; step <= 20; step++) {
            double want = whole.metrics.get("train/loss").get(step);
            double got = (step <= 10 ? first : rest).metrics.get("train/loss").get(step);
            if (step > 10 && step <= 12) { // run twice: before the crash and after the resume
                assertEquals(first.metrics.get("train/loss").get(step), got, Math.abs(got) * 1e-5);
            }
            assertEquals(want, got, Math.abs(want) * 1e-5, "train/loss at step " + step);
        }
        assertEquals(whole.metrics.get("val/loss").get(20L), rest.metrics.get("val/loss").get(20L), 1e-5);

        // Resumed once more, the finished run has no step left: it reports the last step's losses, not NaN.
        TrainJob.Result again = train(parted, tmp.resolve("parted"), true, new Recorder());
        assertEquals(r.trainLoss(), again.trainLoss(), 0.0, "train loss of a finished run resumed");
        assertEquals(r.valLoss(), again.valLoss(), Math.abs(r.valLoss()) * 1e-5);
    }

    /**
     * eval.patience: with min_delta too large to better, the first evaluation stays the best; two more end the run.
     * The model is that evaluation's, and a run killed on the way, or resumed once finished, stops where it would.
     */
    @Test
    void theStoppingRuleEndsTrainingAndKeepsTheBestEvaluationsModel() throws IOException {
        Path s = tmp.resolve("stop.yaml");
        Files.writeString(s, Files.readString(spec(tmp, "stop", 200, "")).replace("eval: {every: 10, batches: 2}",
                "eval: {every: 4, batches: 2, patience: 2, min_delta: 100.0}"));
        Recorder rec = new Recorder();
        TrainJob.Result r = train(s, tmp.resolve("stop"), false, rec);
        assertEquals(12, r.steps(), "evaluations at 4 (the best), 8 and 12: two without betterment");
        assertEquals(12L, rec.metrics.get("train/loss").lastKey());
        assertEquals(4.0, rec.metrics.get("stop/best_step").get(12L));
        assertEquals(rec.metrics.get("val/loss").get(4L), r.valLoss(), 0.0);
        Checkpoint.Header model = Checkpoint.readHeader(r.model());
        assertEquals(4, model.step(), "the model is the best evaluation's");
        assertEquals(rec.metrics.get("val/loss").get(4L), model.metrics().get("val/loss"), 0.0);

        Recorder again = new Recorder();
        TrainJob.Result resumed = train(s, tmp.resolve("stop"), true, again);
        assertEquals(12, resumed.steps());
        assertTrue(!again.metrics.containsKey("train/loss"), "a finished run stays finished: " + again.metrics);

        Path killed = tmp.resolve("stop-killed");
        Path ks = tmp.resolve("stop-killed.yaml");
        Files.writeString(ks, Files.readString(s).replace("name: stop", "name: stop-killed"));
        assertThrows(IllegalStateException.class, () -> train(ks, killed, false, new Recorder(), crashAt(10)));
        TrainJob.Result rest = train(ks, killed, true, new Recorder());
        assertEquals(12, rest.steps());
        assertEquals(4, Checkpoint.readHeader(rest.model()).step());
        assertEquals(r.valLoss(), rest.valLoss(), Math.abs(r.valLoss()) * 1e-6);
    }

    /**
     * optimizer.schedule plateau: each run of patience evaluations without betterment lowers the rate by decay, down
     * to min_lr; only there does the stopping rule end the run. A run killed on the way resumes at its rate.
     */
    @Test
    void thePlateauScheduleLowersTheRateBeforeItStops() throws IOException {
        Path s = tmp.resolve("plateau.yaml");
        Files.writeString(s, Files.readString(spec(tmp, "plateau", 200, "")).replace("eval: {every: 10, batches: 2}",
                "eval: {every: 4, batches: 2, patience: 1, min_delta: 100.0}").replace(
                "optimizer: {lr: 0.01, warmup_steps: 5}",
                "optimizer: {lr: 0.01, min_lr: 0.001, warmup_steps: 0, schedule: plateau, decay: 0.5}"));
        Recorder rec = new Recorder();
        TrainJob.Result r = train(s, tmp.resolve("plateau"), false, rec);
        // best at 4; no betterment at 8, 12, 16, 20: 0.01 -> 0.005 -> 0.0025 -> 0.00125 -> 0.001 (min_lr); at 24,
        // the rate can go no lower, and the run ends
        assertEquals(24, r.steps(), rec.metrics.get("train/lr").toString());
        TreeMap<Long, Double> lr = rec.metrics.get("train/lr");
        assertEquals(0.01, lr.get(8L), 1e-12, "steps 1-8 at the peak");
        assertEquals(0.005, lr.get(9L), 1e-12);
        assertEquals(0.0025, lr.get(13L), 1e-12);
        assertEquals(0.00125, lr.get(17L), 1e-12);
        assertEquals(0.001, lr.get(21L), 1e-12, "not below min_lr");
        assertEquals(4, Checkpoint.readHeader(r.model()).step(), "the model is the best evaluation's");

        Path killed = tmp.resolve("plateau-killed");
        Path ks = tmp.resolve("plateau-killed.yaml");
        Files.writeString(ks, Files.readString(s).replace("name: plateau", "name: plateau-killed"));
        assertThrows(IllegalStateException.class, () -> train(ks, killed, false, new Recorder(), crashAt(14)));
        Recorder rest = new Recorder();
        TrainJob.Result resumed = train(ks, killed, true, rest);
        assertEquals(24, resumed.steps());
        assertEquals(0.005, rest.metrics.get("train/lr").firstEntry().getValue(), 1e-12,
                "resumed from the checkpoint at 10 with the rate lowered once: " + rest.metrics.get("train/lr"));
        rest.metrics.get("train/lr").forEach((step, rate) -> assertEquals(lr.get(step), rate, 1e-12,
                "the resumed run's rate at step " + step + " is the uninterrupted run's"));
    }

    @Test
    void blockSizeLargerThanTheShardsIsAnErrorNamingTheField() throws IOException {
        Path s = tmp.resolve("big.yaml");
        Files.writeString(s, Files.readString(spec(tmp, "big", 5, "")).replace("block_size: 32", "block_size: 100000"));
        SpecException e = assertThrows(SpecException.class, () -> train(s, tmp.resolve("big"), false, new Recorder()));
        assertTrue(e.getMessage().contains("big.yaml:4: model.block_size is 100000, but the longest train shard"),
                e.getMessage());
    }

    @Test
    void shardsFromAnotherTokenizerAreRefusedOnResume() throws IOException {
        Path out = tmp.resolve("tok");
        train(spec(tmp, "tok", 5, ""), out, false, new Recorder());
        Path other = TinyPrep.write(tmp.resolve("prep-other"), 50, true);
        Path s = tmp.resolve("tok2.yaml");
        Files.writeString(s, Files.readString(spec(tmp, "tok", 10, "")).replace(data.toString(), other.toString()));
        DistilleryException e = assertThrows(DistilleryException.class, () -> new TrainJob(
                SpecReader.readLocated(s, TrainSpec.class), other, JobContext.of(out, new Recorder(), "test").resuming(true))
                .run());
        assertTrue(e.getMessage().contains("was trained with tokenizer sha256"), e.getMessage());
        assertTrue(e.getMessage().contains("step-00000005.ckpt"), e.getMessage());
    }

    @Test
    void checkpointsAreKeptAndCarryProvenance() throws IOException {
        Path out = tmp.resolve("prov");
        train(spec(tmp, "prov", 10, "seed: 99"), out, false, new Recorder());
        List<Path> all = new ArrayList<>(TrainJob.checkpoints(out));
        assertEquals(2, all.size());
        Checkpoint.Header h = Checkpoint.readHeader(out.resolve("model.ckpt"));
        assertEquals(10, h.step());
        assertEquals(99, h.training().seed());
        assertEquals(10, h.training().optimizerSteps());
        assertEquals(new GptConfig(2, 2, 32, 32, 257, 0.0), h.model());
        assertTrue(h.tokenizer().json().contains("\"model\""));
        assertEquals(64, h.data().manifestSha256().length());
        assertEquals("test-run", h.runId());
    }
}
