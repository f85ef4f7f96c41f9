package org.distillery.core.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TrainSpecTest {
    static final String OK = """
            name: t
            data:
              prep: demo
            model:
              n_layer: 2
              n_head: 4
              n_embd: 128
            optimizer:
              lr: 0.001
            """;

    @Test
    void defaultsFillTheRest() {
        TrainSpec s = SpecReader.parse(OK, "t.yaml", TrainSpec.class);
        assertEquals(64, s.model().blockSize());
        assertEquals(1e-4, s.optimizer().minLr(), 1e-12);
        assertEquals(12, s.training().batchSize());
        assertEquals(1337L, s.seed());
    }

    @Test
    void theStoppingRuleIsCheckedWhereItIsWritten() {
        TrainSpec s = SpecReader.parse(OK + "eval: {every: 100, patience: 3, min_delta: 0.01}\n", "t.yaml",
                TrainSpec.class);
        assertTrue(s.eval().stopsEarly());
        assertEquals(3, s.eval().patience());
        assertEquals(0.01, s.eval().minDelta(), 0.0);
        assertTrue(!SpecReader.parse(OK, "t.yaml", TrainSpec.class).eval().stopsEarly(), "off by default");
        SpecException zero = assertThrows(SpecException.class, () -> SpecReader.parse(OK
                + "eval: {patience: 0}\n", "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:10: eval.patience must be between 1 and 1048576, found 0", zero.getMessage());
        SpecException alone = assertThrows(SpecException.class, () -> SpecReader.parse(OK
                + "eval: {min_delta: 0.01}\n", "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:10: eval.min_delta is part of the stopping rule: give eval.patience too",
                alone.getMessage());
    }

    @Test
    void thePlateauScheduleNeedsTheStoppingRule() {
        assertEquals("cosine", SpecReader.parse(OK, "t.yaml", TrainSpec.class).optimizer().schedule(), "by default");
        String plateau = OK + "  schedule: plateau\n  decay: 0.5\n"; // in the optimizer section OK ends with
        TrainSpec s = SpecReader.parse(plateau + "eval: {patience: 3}\n", "t.yaml", TrainSpec.class);
        assertEquals("plateau", s.optimizer().schedule());
        assertEquals(0.5, s.optimizer().decay(), 0.0);
        SpecException alone = assertThrows(SpecException.class, () -> SpecReader.parse(plateau, "t.yaml",
                TrainSpec.class));
        assertTrue(alone.getMessage().startsWith("t.yaml:") && alone.getMessage().contains(" optimizer.schedule plateau"
                + " lowers the rate after eval.patience evaluations without betterment: give eval.patience"),
                alone.getMessage());
        SpecException unknown = assertThrows(SpecException.class, () -> SpecReader.parse(OK + "  schedule: step\n",
                "t.yaml", TrainSpec.class));
        assertTrue(unknown.getMessage().contains("optimizer.schedule must be one of [cosine, plateau], found 'step'"),
                unknown.getMessage());
        SpecException decay = assertThrows(SpecException.class, () -> SpecReader.parse(OK + "  decay: 1.5\n",
                "t.yaml", TrainSpec.class));
        assertTrue(decay.getMessage().contains("optimizer.decay must be in (0, 1), found 1.5"), decay.getMessage());
    }

    @Test
    void theProductsPrecisionIsFp32OrBf16() {
        assertEquals("fp32", SpecReader.parse(OK, "t.yaml", TrainSpec.class).training().precision(), "by default");
        assertEquals("bf16", SpecReader.parse(OK + "training: {precision: bf16}\n", "t.yaml", TrainSpec.class)
                .training().precision());
        SpecException fp16 = assertThrows(SpecException.class, () -> SpecReader.parse(OK
                + "training: {precision: fp16}\n", "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:10: training.precision must be one of [fp32, bf16], found 'fp16'", fp16.getMessage());
    }

    @Test
    void nEmbdNotDivisibleByNHeadNamesTheFieldAndLine() {
        SpecException e = assertThrows(SpecException.class,
                () -> SpecReader.parse(OK.replace("n_embd: 128", "n_embd: 130"), "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:7: model.n_embd must be divisible by model.n_head (4), found 130", e.getMessage());
    }

    @Test
    void aLlamaModelHasTheFamilysDefaults() {
        TrainSpec s = SpecReader.parse(OK.replace("model:\n", "model:\n  arch: llama\n"), "t.yaml", TrainSpec.class);
        TrainSpec.Model m = s.model();
        assertEquals(new TrainSpec.Model("llama", 2, 4, 128, 64, 0.0, 4, 352, 10000.0, 1e-5, false, false), m);
        assertEquals(new TrainSpec.Model(2, 4, 128, 64, 0.0), SpecReader.parse(OK, "t.yaml", TrainSpec.class).model(),
                "GPT-2 by default, with no Llama settings");
    }

    /** Heads that do not divide, a head size RoPE cannot turn, a Llama setting on GPT-2: each names its field. */
    @Test
    void badLlamaShapesNameTheirFields() {
        String llama = OK.replace("model:\n", "model:\n  arch: llama\n");
        SpecException e = assertThrows(SpecException.class, () -> SpecReader.parse(
                llama.replace("n_head: 4", "n_head: 4\n  n_kv_head: 3"), "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:8: model.n_kv_head must divide model.n_head (4): each key/value head serves an equal group"
                + " of query heads, found 3", e.getMessage());
        e = assertThrows(SpecException.class, () -> SpecReader.parse(llama.replace("n_embd: 128", "n_embd: 20"),
                "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:7: model.n_head gives a head size of 5 (model.n_embd 20 / 4): RoPE turns pairs of"
                + " dimensions, so it must be even", e.getMessage());
        e = assertThrows(SpecException.class, () -> SpecReader.parse(OK.replace("n_head: 4", "n_head: 4\n  n_kv_head: 2"),
                "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:7: model.n_kv_head is a Llama-family setting: set model.arch: llama, or leave it out for"
                + " GPT-2", e.getMessage());
        e = assertThrows(SpecException.class, () -> SpecReader.parse(OK.replace("model:\n", "model:\n  arch: mistral\n"),
                "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:5: model.arch must be one of [gpt2, llama], found 'mistral'", e.getMessage());
        e = assertThrows(SpecException.class, () -> SpecReader.parse(llama.replace("n_layer: 2", "n_layer: 2\n  rope_theta: 0"),
                "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:7: model.rope_theta must be positive, found 0.0", e.getMessage());
    }

    /** Unknown fields, values of the wrong type and the spec's own checks: every one, each at its line. */
    @Test
    void everyProblemIsReportedNotOnlyTheFirst() {
        String spec = OK.replace("n_layer: 2", "n_layers: 2").replace("n_head: 4", "n_head: four")
                .replace("n_embd: 128", "n_embd: 130") + "training:\n  steps: 1.5\n  batch_sise: 4\n";
        SpecException e = assertThrows(SpecException.class, () -> SpecReader.parse(spec, "t.yaml", TrainSpec.class));
        assertEquals(java.util.List.of(
                "t.yaml:5: unknown field 'n_layers' in 'model' (did you mean 'n_layer'?); allowed: arch, attention_bias,"
                        + " block_size, dropout, intermediate_size, n_embd, n_head, n_kv_head, n_layer, rms_norm_eps,"
                        + " rope_theta, tie_word_embeddings",
                "t.yaml:6: field 'model.n_head' must be an integer, found 'four'",
                "t.yaml:11: field 'training.steps' must be an integer, found '1.5'",
                "t.yaml:12: unknown field 'batch_sise' in 'training' (did you mean 'batch_size'?); allowed: batch_size,"
                        + " grad_accum, log_every, precision, steps"), e.problems().subList(0, 4));
        // The spec's own checks follow, on what could be read (n_head left out: its default).
        assertEquals(java.util.List.of("t.yaml:7: model.n_embd must be divisible by model.n_head (4), found 130"),
                e.problems().subList(4, e.problems().size()));
    }

    /** --set overrides a field by its dotted path, checked like the file; its problems name the option. */
    @Test
    void setOverridesFieldsAndItsProblemsNameTheOption(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path file = dir.resolve("t.yaml");
        java.nio.file.Files.writeString(file, OK);
        TrainSpec s = SpecReader.readLocated(file, TrainSpec.class, java.util.List.of("training.steps=20",
                "model.n_head=2", "optimizer.lr=3e-4")).spec();
        assertEquals(20, s.training().steps());
        assertEquals(2, s.model().nHead());
        assertEquals(3e-4, s.optimizer().lr(), 1e-12);
        assertEquals(2, s.model().nLayer(), "the rest as the file says");

        SpecException e = assertThrows(SpecException.class, () -> SpecReader.readLocated(file, TrainSpec.class,
                java.util.List.of("training.stepz=20", "model.n_head=x", "optimizer.lr=-1")));
        assertEquals(java.util.List.of(
                "--set training.stepz=20: unknown field 'stepz' in 'training' (did you mean 'steps'?); allowed:"
                        + " batch_size, grad_accum, log_every, precision, steps",
                "--set model.n_head=x: field 'model.n_head' must be an integer, found 'x'",
                "--set optimizer.lr=-1: optimizer.lr must be positive, found -1.0"), e.problems().subList(0, 3));

        SpecException bad = assertThrows(SpecException.class, () -> SpecReader.readLocated(file, TrainSpec.class,
                java.util.List.of("steps 20", "name.x=1")));
        assertEquals(java.util.List.of("--set steps 20: expected KEY=VALUE with KEY a dotted path to a spec field,"
                + " such as training.steps=20 or sources[0].path=data/", "--set name.x=1: name is not a mapping of fields"),
                bad.problems());
    }

    /** Scalars keep the text they were written as: a version of digits and dots, a hash of digits. */
    @Test
    void stringFieldsKeepTheirTextAsWritten() {
        TrainSpec s = SpecReader.parse(OK.replace("name: t", "name: 1.10"), "t.yaml", TrainSpec.class);
        assertEquals("1.10", s.name());
    }

    @Test
    void negativeLearningRateNamesTheFieldAndLine() {
        SpecException e = assertThrows(SpecException.class,
                () -> SpecReader.parse(OK.replace("lr: 0.001", "lr: -0.001"), "t.yaml", TrainSpec.class));
        assertTrue(e.getMessage().startsWith("t.yaml:9: optimizer.lr must be positive, found -0.001"), e.getMessage());
    }

    @Test
    void dataNeedsExactlyOneSource() {
        SpecException e = assertThrows(SpecException.class, () -> SpecReader.parse(
                OK.replace("  prep: demo", "  prep: demo\n  path: x"), "t.yaml", TrainSpec.class));
        assertTrue(e.getMessage().startsWith("t.yaml:2: data needs exactly one of"), e.getMessage());
    }
}
