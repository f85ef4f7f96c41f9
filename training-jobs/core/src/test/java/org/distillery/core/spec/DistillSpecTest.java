package org.distillery.core.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class DistillSpecTest {
    static final String OK = """
            name: d
            teacher: ../train/demo/model.ckpt
            data:
              prep: demo
            student:
              n_layer: 2
            distillation:
              loss: jsd
              temperature: 2.0
              kd_ratio: 0.7
            """;

    private static SpecException error(String yaml) {
        return assertThrows(SpecException.class, () -> SpecReader.parse(yaml, "d.yaml", DistillSpec.class));
    }

    /** A Llama student keeps its teacher's family settings; its kv heads and MLP follow its heads and width. */
    @Test
    void aLlamaStudentsShapeFromItsTeacher() {
        TrainSpec.Model teacher = new TrainSpec.Model("llama", 8, 8, 256, 128, 0.0, 2, 704, 500000.0, 1e-6, true, true);
        DistillSpec s = SpecReader.parse(OK.replace("  n_layer: 2\n", "  n_layer: 2\n  n_head: 4\n  n_embd: 128\n"),
                "d.yaml", DistillSpec.class);
        assertEquals(new TrainSpec.Model("llama", 2, 4, 128, 128, 0.0, 1, 352, 500000.0, 1e-6, true, true),
                s.student().resolve(teacher), "a group of 4 query heads per kv head, the MLP at 2.75x the width");
        DistillSpec given = SpecReader.parse(OK.replace("  n_layer: 2\n", "  n_layer: 2\n  n_kv_head: 4\n"
                + "  intermediate_size: 96\n"), "d.yaml", DistillSpec.class);
        TrainSpec.Model m = given.student().resolve(teacher);
        assertEquals(4, m.nKvHead());
        assertEquals(96, m.intermediateSize());
    }

    @Test
    void defaultsAndTheStudentsShapeFromTheTeacher() {
        DistillSpec s = SpecReader.parse(OK, "d.yaml", DistillSpec.class);
        assertEquals("jsd", s.distillation().loss());
        assertEquals(0.5, s.distillation().beta());
        assertEquals("teacher", s.student().init());
        TrainSpec.Model m = s.student().resolve(new TrainSpec.Model(6, 8, 256, 128, 0.0));
        assertEquals(new TrainSpec.Model(2, 8, 256, 128, 0.0), m);
        DistillSpec bare = SpecReader.parse(OK.replace("  n_layer: 2\n", "  init: random\n"), "d.yaml", DistillSpec.class);
        assertEquals(3, bare.student().resolve(new TrainSpec.Model(6, 8, 256, 128, 0.0)).nLayer(),
                "half the teacher's layers");
        assertEquals("d", bare.asTrainSpec(m).name());
        assertEquals(m, bare.asTrainSpec(m).model());
    }

    @Test
    void temperatureAndRatioOutOfRangeNameTheFieldAndLine() {
        assertEquals("d.yaml:9: distillation.temperature must be positive, found 0.0",
                error(OK.replace("temperature: 2.0", "temperature: 0")).getMessage());
        assertEquals("d.yaml:9: distillation.temperature must be positive, found -1.0",
                error(OK.replace("temperature: 2.0", "temperature: -1")).getMessage());
        assertTrue(error(OK.replace("kd_ratio: 0.7", "kd_ratio: 1.5")).getMessage()
                .startsWith("d.yaml:10: distillation.kd_ratio must be in [0, 1]"));
        assertTrue(error(OK.replace("kd_ratio: 0.7", "kd_ratio: -0.1")).getMessage()
                .startsWith("d.yaml:10: distillation.kd_ratio must be in [0, 1]"));
        assertEquals("d.yaml:8: distillation.loss must be one of [forward_kl, reverse_kl, jsd], found 'kl_div'",
                error(OK.replace("loss: jsd", "loss: kl_div")).getMessage());
    }

    @Test
    void teacherIsRequiredAndLayersMustMatchTheStudent() {
        assertTrue(error(OK.replace("teacher: ../train/demo/model.ckpt\n", "")).getMessage()
                .contains("teacher is required"));
        assertTrue(error(OK.replace("  n_layer: 2\n", "  n_layer: 2\n  layers: [0, 2, 4]\n")).getMessage()
                .contains("student.layers lists 3 teacher blocks for a student of student.n_layer 2"));
        assertTrue(error(OK.replace("  n_layer: 2\n", "  n_layer: 2\n  init: random\n  layers: [0, 2]\n")).getMessage()
                .contains("student.layers copies teacher blocks, so it needs student.init: teacher"));
        DistillSpec s = SpecReader.parse(OK.replace("  n_layer: 2\n", "  n_layer: 2\n  layers: [1, 3]\n"), "d.yaml",
                DistillSpec.class);
        assertEquals(List.of(1, 3), s.student().layers());
    }
}
