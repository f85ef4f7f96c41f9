package org.distillery.model;

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
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.junit.jupiter.api.BeforeAll;
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
                tmp.resolve(spec.getFileName().toString().replace(".yaml", "")), false, rec, ProgressListener.NONE,
                "test", warnings).run();
    }

    /**
     * A teacher-logits output of every train window, scored with the code the Spark job runs per task
     * (in one shard, where the job writes one per task).
     */
    static Path offlineLogits(Path out, int window, int k, double temperature) throws IOException {
        Gpt gpt = new Gpt(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)));
        Files.createDirectories(out);
        TeacherScorer.scoreInProcess(gpt, data, out, window, k, temperature, 4, Long.MAX_VALUE, "test");
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
