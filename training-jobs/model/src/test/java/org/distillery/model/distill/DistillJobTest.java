package org.distillery.model.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.model.Checkpoint;
import org.distillery.model.DistillationLoss;
import org.distillery.model.Generator;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.GptTest;
import org.distillery.model.Sampler;
import org.distillery.model.TinyPrep;
import org.distillery.model.TinyTeacher;
import org.distillery.model.train.TrainJob;
import org.distillery.model.train.TrainJobTest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A tiny teacher distilled into a smaller student on real shards, through the training loop. */
class DistillJobTest {
    @TempDir
    static Path tmp;
    static Path data;
    static Path teacherFile;
    static Checkpoint teacher;

    @BeforeAll
    static void teacher() throws IOException {
        data = TinyPrep.write(tmp.resolve("prep"), 200, false);
        TrainJobTest.data = data;
        teacherFile = TrainJobTest.train(TrainJobTest.spec(tmp, "teacher", 150, ""), tmp.resolve("teacher"), false,
                new TrainJobTest.Recorder()).model();
        teacher = Checkpoint.read(teacherFile);
    }

    static Path spec(String name, Path shards, String student, String distillation) throws IOException {
        Path f = tmp.resolve(name + ".yaml");
        Files.writeString(f, """
                name: %s
                teacher: %s
                data:
                  path: %s
                student: %s
                distillation: %s
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: 30, batch_size: 8, log_every: 1}
                eval: {every: 10, batches: 2}
                checkpoints: {every: 10, keep: 2}
                """.formatted(name, teacherFile, shards, student, distillation));
        return f;
    }

    static TrainJob.Result distill(Path spec, Path shards, TrainJobTest.Recorder rec, PrintStream warnings)
            throws IOException {
        return distill(spec, shards, null, teacher, rec, warnings);
    }

    static TrainJob.Result distill(Path spec, Path shards, Path logits, Checkpoint t, TrainJobTest.Recorder rec,
                                   PrintStream warnings) throws IOException {
        return new DistillJob(SpecReader.readLocated(spec, DistillSpec.class), t, teacherFile.toString(), shards, logits,
                JobContext.of(tmp.resolve(spec.getFileName().toString().replace(".yaml", "")), rec, "test")
                        .warningTo(warnings)).run();
    }

    /**
     * A teacher-logits output of every train window, scored with the code the Spark job runs per task
     * (in one shard, where the job writes one per task).
     */
    static Path offlineLogits(Path out, int window, int k, double temperature) throws IOException {
        Gpt gpt = new Gpt(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)));
        Files.createDirectories(out);
        TeacherScorer.scoreInProcess(gpt, data, out, new TeacherScorer.Settings(window, k, temperature, 4), Long.MAX_VALUE,
                "test");
        return out;
    }

    @Test
    void aStudentLearnsFromOfflineTeacherLogits() throws IOException {
        Path logits = offlineLogits(tmp.resolve("logits-32"), 32, 16, 2.0);
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        TrainJob.Result r = distill(spec("offline", data, "{n_layer: 1, init: teacher}",
                "{temperature: 2.0, kd_ratio: 0.7, top_k: 16, teacher_logits: " + logits + "}"), data, logits, teacher,
                rec, System.err);
        double kdFirst = rec.metrics.get("train/kd").firstEntry().getValue();
        double kdLast = rec.metrics.get("train/kd").lastEntry().getValue();
        assertTrue(kdLast < kdFirst * 0.5, "the divergence from the stored teacher fell: " + kdFirst + " -> " + kdLast);
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.3, "the student learnt: " + r.valLoss() + " vs unigram "
                + r.unigramEntropy());
        Map<?, ?> provenance = (Map<?, ?>) Checkpoint.readHeader(r.model()).spec().get("teacher_logits");
        assertEquals(logits.toString(), provenance.get("path"));
    }

    /** With k = V − 1 the stored buckets lose nothing but fp16 rounding: the loss is the live teacher's. */
    @Test
    void offlineBucketsGiveTheLiveTeachersLoss() throws IOException {
        Path logits = offlineLogits(tmp.resolve("logits-all"), 32, 256, 2.0);
        Gpt gpt = new Gpt(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)));
        Gpt student = new Gpt(GptParameters.initialize(new GptConfig(1, 2, 32, 32, 257, 0.0), 3));
        try (TeacherLogitWindows w = TeacherLogitWindows.open(logits, TeacherLogitsManifest.read(logits))) {
            TeacherLogitWindows.Sampled s = w.randomBatch(1, 2, 0, 3);
            INDArray studentLogits = student.logits(s.batch().inputs(), 3, 32);
            INDArray teacherLogits = gpt.logits(s.batch().inputs(), 3, 32);
            for (DistillationLoss.Divergence d : DistillationLoss.Divergence.values()) {
                DistillationLoss loss = new DistillationLoss(d, 0.3, 2.0, 1.0);
                double live = loss.apply(studentLogits, new DistillationLoss.Dense(teacherLogits), s.batch().targets(),
                        null, 1).loss();
                double offline = loss.apply(studentLogits, s.teacher(), s.batch().targets(), null, 1).loss();
                assertEquals(live, offline, 2e-3 * live, d + " loss");
            }
        }
    }

    @Test
    void offlineLogitsThatDoNotFitTheRunAreRefusedNamingTheField() throws IOException {
        Path logits = offlineLogits(tmp.resolve("logits-16"), 16, 8, 2.0);
        String fit = "{temperature: 2.0, teacher_logits: " + logits + "}";
        record Case(String student, String distillation, Checkpoint teacher, Path data, String expected) {
        }
        Path otherData = TinyPrep.write(tmp.resolve("prep-again"), 200, false);
        Checkpoint otherTeacher = TinyTeacher.random(data, 2, 2, 32, 32, 9);
        List<Case> cases = List.of(
                new Case("{n_layer: 1, block_size: 16}", fit.replace("2.0", "1.0"), teacher, data,
                        "distillation.temperature is 1.0, but the teacher logits in " + logits
                                + " hold the rest's log-sum-exp at temperature 2.0"),
                new Case("{n_layer: 1, block_size: 16}", fit.replace("}", ", top_k: 4}"), teacher, data,
                        "distillation.top_k is 4, but the teacher logits in " + logits + " keep the top 8"),
                new Case("{n_layer: 1}", fit, teacher, data,
                        "student.block_size is 32, but the teacher logits in " + logits + " cover windows of 16 tokens"),
                new Case("{n_layer: 1, block_size: 16}", fit, teacher, otherData,
                        "distillation.teacher_logits is " + logits + ", computed for the prep output whose manifest has"
                                + " sha256 " + Sha256.of(data.resolve(ShardManifest.FILE_NAME))),
                new Case("{n_layer: 1, block_size: 16}", fit, otherTeacher, data,
                        "were computed by a teacher with weights sha256 "));
        for (Case c : cases) {
            Path s = spec("misfit", c.data(), c.student(), c.distillation());
            DistilleryException e = assertThrows(DistilleryException.class,
                    () -> distill(s, c.data(), logits, c.teacher(), new TrainJobTest.Recorder(), System.err));
            assertTrue(e.getMessage().contains("misfit.yaml:") && e.getMessage().contains(c.expected()), e.getMessage());
        }
    }

    @Test
    void aStudentLearnsFromALiveTeacherAndRecordsIt() throws IOException {
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        TrainJob.Result r = distill(spec("live", data, "{n_layer: 1, init: teacher}",
                "{loss: forward_kl, temperature: 2.0, kd_ratio: 0.7}"), data, rec, System.err);
        Checkpoint.Header h = Checkpoint.readHeader(r.model());
        assertEquals(new GptConfig(1, 2, 32, 32, 257, 0.0), h.model());
        @SuppressWarnings("unchecked")
        Map<String, Object> t = (Map<String, Object>) h.spec().get("teacher_checkpoint");
        assertEquals(teacherFile.toString(), t.get("source"));
        assertEquals("forward_kl", ((Map<?, ?>) h.spec().get("distillation")).get("loss"));
        double kdFirst = rec.metrics.get("train/kd").firstEntry().getValue();
        double kdLast = rec.metrics.get("train/kd").lastEntry().getValue();
        assertTrue(kdLast < kdFirst * 0.5, "the divergence from the teacher fell: " + kdFirst + " -> " + kdLast);
        assertTrue(rec.metrics.containsKey("train/ce"));
        double teacherVal = rec.metrics.get("val/teacher_loss").get(0L);
        assertTrue(teacherVal < r.unigramEntropy(), "the teacher learnt: " + teacherVal);
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.3, "the student learnt: " + r.valLoss() + " vs unigram "
                + r.unigramEntropy());
        // the loss logged is the mixture of its parts
        long step = rec.metrics.get("train/loss").lastKey();
        double mixed = 0.7 * 4 * rec.metrics.get("train/kd").get(step) + 0.3 * rec.metrics.get("train/ce").get(step);
        assertEquals(mixed, rec.metrics.get("train/loss").get(step), 1e-6 * Math.abs(mixed));
    }

    /** With kd_ratio 0 the loss is the cross-entropy: the run is plain training, step for step. */
    @Test
    void kdRatioZeroIsPlainTraining() throws IOException {
        TrainJobTest.Recorder distilled = new TrainJobTest.Recorder();
        Path s = spec("ce", data, "{n_layer: 1, init: random}", "{kd_ratio: 0.0}");
        Files.writeString(s, Files.readString(s).replace("steps: 30", "steps: 15"));
        distill(s, data, distilled, System.err);
        TrainJobTest.Recorder plain = new TrainJobTest.Recorder();
        Path t = tmp.resolve("plain.yaml");
        Files.writeString(t, Files.readString(TrainJobTest.spec(tmp, "plain", 15, "")).replace("n_layer: 2", "n_layer: 1")
                .replace("checkpoints: {every: 5, keep: 10}", "checkpoints: {every: 10, keep: 2}")
                .replace("eval: {every: 10, batches: 2}", "eval: {every: 10, batches: 2}"));
        TrainJobTest.train(t, tmp.resolve("plain"), false, plain);
        for (long step = 1; step <= 15; step++) {
            double want = plain.metrics.get("train/loss").get(step);
            assertEquals(want, distilled.metrics.get("train/loss").get(step), 1e-4 * want, "train/loss at step " + step);
        }
    }

    @Test
    void initFromTheTeacherCopiesEvenlySpacedBlocksOrProjectsTheEmbeddings() {
        GptParameters tp = GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS));
        assertEquals(List.of(0, 2, 4), StudentInit.evenlySpaced(6, 3));
        assertEquals(List.of(0), StudentInit.evenlySpaced(2, 1));
        GptParameters s = StudentInit.fromTeacher(tp, new GptConfig(1, 2, 32, 16, 257, 0.0), null, 1);
        assertEquals(tp.get("wte.weight"), s.get("wte.weight"));
        assertEquals(tp.layer(0, "attn.c_attn.weight"), s.layer(0, "attn.c_attn.weight"));
        assertEquals(tp.layer(0, "mlp.c_proj.bias"), s.layer(0, "mlp.c_proj.bias"));
        assertEquals(tp.get("wpe.weight").getRows(java.util.stream.IntStream.range(0, 16).toArray()), s.get("wpe.weight"));
        GptParameters second = StudentInit.fromTeacher(tp, new GptConfig(1, 2, 32, 32, 257, 0.0), List.of(1), 1);
        assertEquals(tp.layer(1, "ln_2.weight"), second.layer(0, "ln_2.weight"));
        assertEquals(tp.layer(1, "attn.c_proj.weight"), second.layer(0, "attn.c_proj.weight"));

        GptParameters narrow = StudentInit.fromTeacher(tp, new GptConfig(1, 2, 16, 32, 257, 0.0), null, 1);
        INDArray p = StudentInit.principalDirections(tp.get("wte.weight"), 16);
        INDArray gram = p.transpose().mmul(p);
        assertTrue(gram.equalsWithEps(Nd4j.eye(16), 1e-4), "orthonormal directions: " + gram);
        assertTrue(narrow.get("wte.weight").equalsWithEps(tp.get("wte.weight").mmul(p), 1e-5));
        DistilleryException e = assertThrows(DistilleryException.class,
                () -> StudentInit.fromTeacher(tp, new GptConfig(1, 2, 16, 32, 257, 0.0), List.of(0), 1));
        assertTrue(e.getMessage().contains("student.layers copies teacher blocks, which needs student.n_embd equal"),
                e.getMessage());
        e = assertThrows(DistilleryException.class,
                () -> StudentInit.fromTeacher(tp, new GptConfig(1, 2, 32, 32, 257, 0.0), List.of(5), 1));
        assertTrue(e.getMessage().contains("student.layers[0] is 5, but the teacher has blocks 0 to 1"), e.getMessage());
    }

    /**
     * A narrower student learns the teacher's last hidden state through a learned projection, and half its
     * micro-batches are its own samples scored by the teacher (GKD). Each step's logged loss is the mixture
     * its kind of batch calls for; the projection is checkpointed, so a resumed run follows the
     * uninterrupted one.
     */
    @Test
    void hiddenStatesThroughAProjectionAndOnPolicySamplesTrainAndResume() throws IOException {
        String student = "{n_layer: 1, n_embd: 16, n_head: 2, init: teacher}";
        String distillation = "{temperature: 2.0, kd_ratio: 0.7, hidden: {loss: cosine, weight: 0.5},"
                + " on_policy: {ratio: 0.5, prompt_tokens: 4}}";
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        TrainJob.Result r = distill(spec("gkd", data, student, distillation), data, rec, System.err);
        Map<Long, Double> loss = rec.metrics.get("train/loss");
        int sampled = 0;
        for (long step = 1; step <= 30; step++) {
            double onPolicy = rec.metrics.get("train/on_policy").get(step);
            double kd = rec.metrics.get("train/kd").get(step);
            double hidden = rec.metrics.get("train/hidden").get(step);
            double want;
            if (onPolicy == 1.0) { // the divergence alone: the student's likelihood of its own samples is no target
                sampled++;
                assertTrue(!rec.metrics.get("train/ce").containsKey(step), "no cross-entropy at step " + step);
                want = 4 * kd + 0.5 * hidden;
            } else {
                assertEquals(0.0, onPolicy);
                want = 0.7 * 4 * kd + 0.3 * rec.metrics.get("train/ce").get(step) + 0.5 * hidden;
            }
            assertEquals(want, loss.get(step), 1e-5 * want, "train/loss at step " + step);
        }
        assertTrue(sampled >= 5 && sampled <= 25, "about half the steps sampled: " + sampled);
        double hiddenFirst = rec.metrics.get("train/hidden").firstEntry().getValue();
        double hiddenLast = rec.metrics.get("train/hidden").lastEntry().getValue();
        assertTrue(hiddenLast < hiddenFirst * 0.7, "the hidden-state loss fell: " + hiddenFirst + " -> " + hiddenLast);
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.3, "the student learnt: " + r.valLoss());
        Checkpoint done = Checkpoint.read(r.model());
        assertEquals(16 * 32, done.section(TrainJob.AUX_PARAMS).length(), "one 16 -> 32 projection");

        // resume from the step-20 checkpoint in a fresh folder: steps 21..30 follow the same curve
        Path parted = tmp.resolve("gkd-resumed");
        Files.createDirectories(parted.resolve("checkpoints"));
        Files.copy(tmp.resolve("gkd/checkpoints/step-00000020.ckpt"), parted.resolve("checkpoints/step-00000020.ckpt"));
        TrainJobTest.Recorder rest = new TrainJobTest.Recorder();
        TrainJob.Result resumed = new DistillJob(SpecReader.readLocated(tmp.resolve("gkd.yaml"), DistillSpec.class),
                teacher, teacherFile.toString(), data, null, JobContext.of(parted, rest, "test").resuming(true)).run();
        assertTrue(resumed.resumed());
        for (long step = 21; step <= 30; step++) {
            assertEquals(loss.get(step), rest.metrics.get("train/loss").get(step), 1e-4 * loss.get(step),
                    "train/loss at step " + step);
        }
        assertTrue(Checkpoint.read(resumed.model()).section(TrainJob.AUX_PARAMS)
                .equalsWithEps(done.section(TrainJob.AUX_PARAMS), 1e-4), "the projection resumed");
    }

    /**
     * Two ranks on a loopback ring distil as one process does, bit for bit: the hidden-state projection's gradient is
     * summed with the student's, and the loss parts (kd, ce, hidden, the on-policy share) are summed before their
     * means are taken.
     */
    @Test
    @Tag("numerical")
    void twoRanksDistilAsOneProcessWithHiddenStatesAndOnPolicySamples() throws Exception {
        Path spec = spec("ranks", data, "{n_layer: 1, n_embd: 16, n_head: 2, init: teacher}", "{temperature: 2.0,"
                + " kd_ratio: 0.7, hidden: {loss: cosine, weight: 0.5}, on_policy: {ratio: 0.5, prompt_tokens: 4}}");
        List<String> set = List.of("training.steps=12", "training.batch_size=2", "training.grad_accum=4",
                "distributed.check_every=1");
        SpecReader.Located<DistillSpec> located = SpecReader.readLocated(spec, DistillSpec.class, set);
        TrainJobTest.Recorder one = new TrainJobTest.Recorder();
        TrainJob.Result single = new DistillJob(located, teacher, teacherFile.toString(), data, null,
                JobContext.of(tmp.resolve("ranks-one"), one, "test")).run();

        List<org.distillery.core.collective.RingEndpoint> endpoints = List.of(
                org.distillery.core.collective.RingEndpoint.listen(java.net.InetAddress.getLoopbackAddress()),
                org.distillery.core.collective.RingEndpoint.listen(java.net.InetAddress.getLoopbackAddress()));
        List<java.net.InetSocketAddress> addresses = List.of(endpoints.get(0).address(), endpoints.get(1).address());
        byte[] secret = org.distillery.core.collective.RingEndpoint.newSecret();
        TrainJobTest.Recorder rank0 = new TrainJobTest.Recorder();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            List<java.util.concurrent.Future<TrainJob.Result>> ranks = new java.util.ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    try (org.distillery.core.collective.RingAllReduce ring = endpoints.get(rank).join(rank, addresses,
                            secret, new org.distillery.core.collective.RingAllReduce.Settings(
                                    java.time.Duration.ofSeconds(30), java.time.Duration.ofSeconds(60)))) {
                        return new DistillJob(located, teacher, teacherFile.toString(), data, null,
                                JobContext.of(tmp.resolve("ranks-" + rank), rank == 0 ? rank0
                                        : new TrainJobTest.Recorder(), "test"))
                                .across(org.distillery.model.train.DataParallel.over(ring)).run();
                    }
                }));
            }
            TrainJob.Result r0 = ranks.get(0).get(5, java.util.concurrent.TimeUnit.MINUTES);
            ranks.get(1).get(5, java.util.concurrent.TimeUnit.MINUTES);
            for (String metric : List.of("train/loss", "train/kd", "train/ce", "train/hidden", "train/on_policy",
                    "train/grad_norm")) {
                assertEquals(one.metrics.get(metric), rank0.metrics.get(metric), metric + ": the same at every step");
            }
            // The exact sum adds the micro-batches as integers, so the ranks' split changes no bit of the weights,
            // even those whose gradient is float rounding alone (the attention's key bias).
            for (String section : List.of(Checkpoint.PARAMS, TrainJob.AUX_PARAMS)) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(
                        Checkpoint.read(single.model()).section(section).toFloatVector(),
                        Checkpoint.read(r0.model()).section(section).toFloatVector(), section + " bit for bit");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Row {@code r} of a batch as one sequence: its inputs, then the last target. */
    static int[] row(Gpt.Batch b, int r) {
        int[] out = java.util.Arrays.copyOf(java.util.Arrays.copyOfRange(b.inputs(), r * b.time(), (r + 1) * b.time()),
                b.time() + 1);
        out[b.time()] = b.targets()[(r + 1) * b.time() - 1];
        return out;
    }

    /** The student's samples: the data's prompt, then what greedy generation from the student gives. */
    @Test
    void onPolicyRowsKeepThePromptAndContinueAsTheStudentGenerates() {
        GptParameters sp = GptParameters.initialize(new GptConfig(1, 2, 16, 32, 257, 0.0), 5);
        Gpt student = new Gpt(sp);
        Gpt.Batch data = GptTest.batch(student.config(), 3, 12, 6);
        Gpt.Batch rolled = Rollout.sample(student, data, 4, new Sampler(0, 0, 1, 1));
        for (int r = 0; r < 3; r++) {
            int[] prompt = java.util.Arrays.copyOfRange(data.inputs(), r * 12, r * 12 + 4);
            int[] want = new Generator(student).generate(prompt, 9, new Sampler(0, 0, 1, 1), -1);
            assertEquals(java.util.Arrays.toString(want), java.util.Arrays.toString(row(rolled, r)), "row " + r);
        }
        // sampled at temperature 1, the rows differ from greedy but keep the prompt
        Gpt.Batch hot = Rollout.sample(student, data, 4, new Sampler(1.0, 0, 1, 2));
        assertEquals(java.util.Arrays.toString(java.util.Arrays.copyOfRange(data.inputs(), 0, 4)),
                java.util.Arrays.toString(java.util.Arrays.copyOfRange(hot.inputs(), 0, 4)));
        assertTrue(!java.util.Arrays.equals(hot.inputs(), rolled.inputs()), "sampling is not greedy");
    }

    @Test
    void hiddenAndOnPolicySettingsThatCannotWorkAreRefusedNamingTheField() throws IOException {
        SpecException e = assertThrows(SpecException.class, () -> distill(spec("badlayer", data, "{n_layer: 1}",
                "{hidden: {layers: [[1, 2], [2, 1]]}}"), data, new TrainJobTest.Recorder(), System.err));
        assertTrue(e.getMessage().contains("distillation.hidden.layers[1] names student layer 2, but the student has 1"
                + " blocks"), e.getMessage());
        e = assertThrows(SpecException.class, () -> distill(spec("badteacherlayer", data, "{n_layer: 1}",
                "{hidden: {loss: mse, layers: [[1, 3]]}}"), data, new TrainJobTest.Recorder(), System.err));
        assertTrue(e.getMessage().contains("distillation.hidden.layers[0] names teacher layer 3"), e.getMessage());
        e = assertThrows(SpecException.class, () -> distill(spec("longprompt", data, "{n_layer: 1}",
                "{on_policy: {prompt_tokens: 32}}"), data, new TrainJobTest.Recorder(), System.err));
        assertTrue(e.getMessage().contains("distillation.on_policy.prompt_tokens is 32, but the student's windows hold 32"
                + " tokens"), e.getMessage());
        e = assertThrows(SpecException.class, () -> distill(spec("offpolicy", data, "{n_layer: 1}",
                "{teacher_logits: somewhere, on_policy: {ratio: 0.5}}"), data, new TrainJobTest.Recorder(), System.err));
        assertTrue(e.getMessage().contains("distillation.on_policy needs a live teacher"), e.getMessage());
        e = assertThrows(SpecException.class, () -> distill(spec("badhidden", data, "{n_layer: 1}",
                "{hidden: {loss: l1, weight: -1, layers: [[1]]}}"), data, new TrainJobTest.Recorder(), System.err));
        assertTrue(e.getMessage().contains("distillation.hidden.loss") && e.getMessage().contains("distillation.hidden.weight")
                && e.getMessage().contains("distillation.hidden.layers[0] must be a pair"), e.getMessage());
    }

    /** Offline logits with a hidden-state loss: the teacher runs only up to the layer the loss reads. */
    @Test
    void offlineLogitsCombineWithAHiddenStateLoss() throws IOException {
        Path logits = offlineLogits(tmp.resolve("logits-hidden"), 32, 16, 2.0);
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        Path s = spec("offline-hidden", data, "{n_layer: 1, init: teacher}",
                "{temperature: 2.0, top_k: 16, teacher_logits: " + logits + ", hidden: {loss: mse}}");
        Files.writeString(s, Files.readString(s).replace("steps: 30", "steps: 15"));
        distill(s, data, logits, teacher, rec, System.err);
        double first = rec.metrics.get("train/hidden").firstEntry().getValue();
        double last = rec.metrics.get("train/hidden").lastEntry().getValue();
        // the student starts as teacher block 0 and learns the state after the teacher's block 1 (the default pair)
        assertTrue(last < first * 0.8, "the hidden-state loss fell: " + first + " -> " + last);
    }

    @Test
    void aTokenizerMismatchNamesBothHashes() throws IOException {
        Path other = TinyPrep.write(tmp.resolve("prep-other"), 40, true);
        DistilleryException e = assertThrows(DistilleryException.class, () -> distill(spec("mismatch", other,
                "{n_layer: 1}", "{}"), other, new TrainJobTest.Recorder(), System.err));
        String shardsSha = ShardManifest.read(other).tokenizer().sha256();
        assertTrue(e.getMessage().contains("uses tokenizer sha256 " + teacher.header().tokenizer().sha256()), e.getMessage());
        assertTrue(e.getMessage().contains("use tokenizer sha256 " + shardsSha), e.getMessage());
        assertTrue(e.getMessage().contains("must share a tokenizer"), e.getMessage());
    }

    @Test
    void aStudentNoSmallerThanTheTeacherIsAWarning() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream warnings = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Path s = spec("big", data, "{n_layer: 2}", "{}");
        Files.writeString(s, Files.readString(s).replace("steps: 30", "steps: 2"));
        distill(s, data, new TrainJobTest.Recorder(), warnings);
        String w = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(w.contains("warning: ") && w.contains("is not smaller than the teacher"), w);
    }
}
