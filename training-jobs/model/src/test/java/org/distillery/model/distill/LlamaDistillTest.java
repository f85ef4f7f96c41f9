package org.distillery.model.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.JobContext;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.TinyPrep;
import org.distillery.model.train.TrainJob;
import org.distillery.model.train.TrainJobTest;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A Llama-family teacher (4 query heads over 2 key/value heads) distilled into smaller Llama students: fewer layers,
 * narrower, fewer key/value heads; every loss, teacher-block init with pooled key/value heads, hidden-state pairs
 * through a projection, offline logits and on-policy batches.
 */
class LlamaDistillTest {
    @TempDir
    static Path tmp;
    static Path data;
    static Path teacherFile;
    static Checkpoint teacher;

    @BeforeAll
    static void teacher() throws IOException {
        data = TinyPrep.write(tmp.resolve("prep"), 200, false);
        TrainJobTest.data = data;
        Path spec = TrainJobTest.spec(tmp, "teacher", 150, TrainJobTest.LLAMA);
        Files.writeString(spec, Files.readString(spec).replace(
                "model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}\n", ""));
        teacherFile = TrainJobTest.train(spec, tmp.resolve("teacher"), false, new TrainJobTest.Recorder()).model();
        teacher = Checkpoint.read(teacherFile);
        assertEquals(GptConfig.LLAMA, teacher.header().model().arch());
    }

    static Path spec(String name, String student, String distillation) throws IOException {
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
                """.formatted(name, teacherFile, data, student, distillation));
        return f;
    }

    static TrainJob.Result distill(Path spec, Path logits, TrainJobTest.Recorder rec) throws IOException {
        return new DistillJob(SpecReader.readLocated(spec, DistillSpec.class), teacher, teacherFile.toString(), data,
                logits, JobContext.of(tmp.resolve(spec.getFileName().toString().replace(".yaml", "")), rec, "test")).run();
    }

    /** One layer and one key/value head, started from the teacher's block with its two kv heads pooled. */
    @ParameterizedTest
    @ValueSource(strings = {"forward_kl", "reverse_kl", "jsd"})
    void everyLossDistilsIntoAShallowerStudentWithFewerKeyValueHeads(String loss) throws IOException {
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        TrainJob.Result r = distill(spec("loss-" + loss, "{n_layer: 1, n_kv_head: 1, init: teacher}",
                "{loss: " + loss + ", temperature: 2.0, kd_ratio: 0.7}"), null, rec);
        GptConfig c = Checkpoint.readHeader(r.model()).model();
        assertEquals(new GptConfig(1, 4, 32, 32, teacher.header().model().vocabSize(), 0.0,
                new GptConfig.Llama(1, 64, 10000, 1e-5, false, false)), c, "the teacher's family settings kept");
        double first = rec.metrics.get("train/kd").firstEntry().getValue();
        double last = rec.metrics.get("train/kd").lastEntry().getValue();
        assertTrue(last < first, loss + ": the divergence fell from " + first + " to " + last);
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.3, loss + ": the student learnt: " + r.valLoss());
    }

    @Test
    void initFromTheTeacherCopiesBlocksAndPoolsKeyValueHeads() {
        GptParameters tp = GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS));
        GptConfig tc = tp.config();
        GptConfig sc = new GptConfig(1, 4, 32, 32, tc.vocabSize(), 0.0, new GptConfig.Llama(1, 64, 10000, 1e-5, false,
                false));
        GptParameters s = StudentInit.fromTeacher(tp, sc, List.of(1), 3);
        assertEquals(tp.embedding(), s.embedding());
        assertEquals(tp.head(), s.head());
        assertEquals(tp.layer(1, "mlp.gate_up_proj.weight"), s.layer(0, "mlp.gate_up_proj.weight"));
        assertEquals(tp.layer(1, "self_attn.o_proj.weight"), s.layer(0, "self_attn.o_proj.weight"));
        INDArray tq = tp.layer(1, "self_attn.qkv_proj.weight");
        INDArray sq = s.layer(0, "self_attn.qkv_proj.weight");
        int d = 8;
        assertEquals(tq.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 32)), sq.get(NDArrayIndex.all(),
                NDArrayIndex.interval(0, 32)), "q copied");
        for (int part = 0; part < 2; part++) { // k, then v: the mean of the teacher's two heads
            INDArray mean = tq.get(NDArrayIndex.all(), NDArrayIndex.interval(32 + part * 2 * d, 32 + part * 2 * d + d))
                    .add(tq.get(NDArrayIndex.all(), NDArrayIndex.interval(32 + part * 2 * d + d, 32 + part * 2 * d + 2 * d)))
                    .divi(2);
            assertTrue(mean.equalsWithEps(sq.get(NDArrayIndex.all(), NDArrayIndex.interval(32 + part * d,
                    32 + (part + 1) * d)), 1e-6), (part == 0 ? "k" : "v") + " pooled");
        }
        // a narrower student: the embedding and the separate head projected on the embedding's principal directions
        GptConfig narrow = new GptConfig(1, 2, 16, 32, tc.vocabSize(), 0.0, new GptConfig.Llama(1, 40, 10000, 1e-5,
                false, false));
        GptParameters n = StudentInit.fromTeacher(tp, narrow, null, 3);
        INDArray p = StudentInit.principalDirections(tp.embedding(), 16);
        assertTrue(n.embedding().equalsWithEps(tp.embedding().mmul(p), 1e-5));
        assertTrue(n.head().equalsWithEps(tp.head().mmul(p), 1e-5));
        // the student runs
        assertTrue(Double.isFinite(new Gpt(n).loss(org.distillery.model.GptTest.batch(narrow, 2, 8, 1))));
    }

    /** Narrower (16 wide, 2 heads over 1 kv head), hidden states through a projection, half on-policy; then offline. */
    @Test
    void aNarrowStudentLearnsHiddenStatesOnPolicyAndFromOfflineLogits() throws IOException {
        TrainJobTest.Recorder rec = new TrainJobTest.Recorder();
        TrainJob.Result r = distill(spec("narrow", "{n_layer: 1, n_embd: 16, n_head: 2, init: teacher}",
                "{temperature: 2.0, kd_ratio: 0.7, hidden: {loss: cosine, weight: 0.5},"
                        + " on_policy: {ratio: 0.5, prompt_tokens: 4}}"), null, rec);
        GptConfig c = Checkpoint.readHeader(r.model()).model();
        assertEquals(1, c.kvHeads(), "the teacher's group of two query heads per kv head kept");
        assertEquals(32, c.llama().intermediateSize(), "the MLP at the teacher's ratio to the width");
        double hiddenFirst = rec.metrics.get("train/hidden").firstEntry().getValue();
        double hiddenLast = rec.metrics.get("train/hidden").lastEntry().getValue();
        assertTrue(hiddenLast < hiddenFirst * 0.7, "the hidden-state loss fell: " + hiddenFirst + " -> " + hiddenLast);
        assertTrue(rec.metrics.get("train/on_policy").values().stream().anyMatch(v -> v == 1.0), "some batches sampled");
        assertTrue(r.valLoss() < r.unigramEntropy() - 0.3, "the student learnt: " + r.valLoss());
        assertEquals(16 * 32, Checkpoint.read(r.model()).section(TrainJob.AUX_PARAMS).length(), "one 16 -> 32 projection");

        Path logits = tmp.resolve("logits");
        Files.createDirectories(logits);
        Gpt gpt = new Gpt(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)));
        TeacherScorer.scoreInProcess(gpt, data, logits, new TeacherScorer.Settings(32, 16, 2.0, 4), Long.MAX_VALUE, "test");
        TrainJobTest.Recorder offline = new TrainJobTest.Recorder();
        TrainJob.Result o = distill(spec("offline", "{n_layer: 1, n_kv_head: 1, init: teacher}",
                "{temperature: 2.0, kd_ratio: 0.7, top_k: 16, teacher_logits: " + logits + "}"), logits, offline);
        double kdFirst = offline.metrics.get("train/kd").firstEntry().getValue();
        double kdLast = offline.metrics.get("train/kd").lastEntry().getValue();
        assertTrue(kdLast < kdFirst * 0.7, "the divergence from the stored teacher fell: " + kdFirst + " -> " + kdLast);
        assertTrue(o.valLoss() < o.unigramEntropy() - 0.3, "the student learnt: " + o.valLoss());
    }

    @Test
    void studentShapesThatCannotWorkNameTheirField() throws IOException {
        SpecException e = assertThrows(SpecException.class, () -> distill(spec("badkv",
                "{n_layer: 1, n_kv_head: 3}", "{}"), null, new TrainJobTest.Recorder()));
        assertTrue(e.getMessage().contains("student.n_kv_head must divide student.n_head (4)"), e.getMessage());
        e = assertThrows(SpecException.class, () -> distill(spec("oddhead", "{n_layer: 1, n_head: 8, n_embd: 24}",
                "{}"), null, new TrainJobTest.Recorder()));
        assertTrue(e.getMessage().contains("student.n_head gives a head size of 3"), e.getMessage());
    }
}
