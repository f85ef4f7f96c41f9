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
