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
    void nEmbdNotDivisibleByNHeadNamesTheFieldAndLine() {
        SpecException e = assertThrows(SpecException.class,
                () -> SpecReader.parse(OK.replace("n_embd: 128", "n_embd: 130"), "t.yaml", TrainSpec.class));
        assertEquals("t.yaml:7: model.n_embd must be divisible by model.n_head (4), found 130", e.getMessage());
    }

    /** Unknown fields, values of the wrong type and the spec's own checks: every one, each at its line. */
    @Test
    void everyProblemIsReportedNotOnlyTheFirst() {
        String spec = OK.replace("n_layer: 2", "n_layers: 2").replace("n_head: 4", "n_head: four")
                .replace("n_embd: 128", "n_embd: 130") + "training:\n  steps: 1.5\n  batch_sise: 4\n";
        SpecException e = assertThrows(SpecException.class, () -> SpecReader.parse(spec, "t.yaml", TrainSpec.class));
        assertEquals(java.util.List.of(
                "t.yaml:5: unknown field 'n_layers' in 'model' (did you mean 'n_layer'?); allowed: block_size, dropout,"
                        + " n_embd, n_head, n_layer",
                "t.yaml:6: field 'model.n_head' must be an integer, found 'four'",
                "t.yaml:11: field 'training.steps' must be an integer, found '1.5'",
                "t.yaml:12: unknown field 'batch_sise' in 'training' (did you mean 'batch_size'?); allowed: batch_size,"
                        + " grad_accum, log_every, steps"), e.problems().subList(0, 4));
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
                        + " batch_size, grad_accum, log_every, steps",
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
