package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class GptTest {
    static final GptConfig TINY = new GptConfig(2, 2, 16, 8, 37, 0.0);

    static Gpt.Batch batch(GptConfig c, int b, int t, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] in = new int[b * t];
        int[] tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = r.nextInt(c.vocabSize());
            tg[i] = r.nextInt(c.vocabSize());
        }
        return new Gpt.Batch(in, tg, b, t);
    }

    /** Larger than GPT-2's init, so that every path (attention, LayerNorm gains) carries real gradient. */
    static GptParameters params(GptConfig c, long seed) {
        GptParameters p = GptParameters.initialize(c, seed);
        p.flat().addi(Nd4j.randn(Nd4j.getRandomFactory().getNewRandomInstance(seed + 1), p.flat().length())
                .castTo(DataType.FLOAT).reshape(p.flat().length()).muli(0.2));
        return p;
    }

    static Stream<Kernels> kernels() {
        return Stream.of(new VectorKernels(), new JavaKernels(), new Nd4jKernels());
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void logitsAndLossMatchSameDiff(Kernels kernels) {
        GptParameters p = params(TINY, 1);
        Gpt.Batch b = batch(TINY, 3, 8, 2);
        Gpt gpt = new Gpt(p, kernels);
        GptGraph graph = new GptGraph(p, 3, 8);
        INDArray mine = gpt.logits(b.inputs(), 3, 8);
        INDArray ref = graph.logits(b);
        assertEquals(0.0, mine.sub(ref).amaxNumber().doubleValue(), 1e-4);
        assertEquals(graph.loss(b), gpt.loss(b), 1e-5);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void gradientsMatchSameDiffAutodiff(Kernels kernels) {
        GptParameters p = params(TINY, 3);
        Gpt.Batch b = batch(TINY, 3, 7, 4); // T < block_size: only the first T position rows get gradient
        Gpt gpt = new Gpt(p, kernels);
        GptParameters g = GptParameters.zeros(TINY);
        double loss = gpt.lossAndGradient(b, g, 1.0, 0);
        GptGraph graph = new GptGraph(p, 3, 7);
        assertEquals(graph.loss(b), loss, 1e-5);
        Map<String, INDArray> ref = graph.gradients(b);
        StringBuilder report = new StringBuilder();
        for (String name : p.names()) {
            INDArray want = ref.get(name);
            double scale = Math.max(1e-3, want.amaxNumber().doubleValue());
            double err = g.get(name).sub(want).amaxNumber().doubleValue() / scale;
            if (err >= 2e-3) {
                report.append(name).append(": relative error ").append(err).append('\n');
            }
        }
        assertTrue(report.length() == 0, report.toString());
        for (String name : p.names()) {
            INDArray want = ref.get(name);
            INDArray got = g.get(name);
            assertArrayEquals(want.shape(), got.shape(), name);
            double scale = Math.max(1e-3, want.amaxNumber().doubleValue());
            double err = got.sub(want).amaxNumber().doubleValue() / scale;
            assertTrue(err < 2e-3, name + ": relative error " + err + " (max |grad| " + scale + ")");
            assertTrue(want.amaxNumber().doubleValue() > 0 || name.startsWith("wpe"), name + " has no gradient");
        }
    }

    @Test
    void gradientsAccumulateWithScale() {
        GptParameters p = params(TINY, 5);
        Gpt gpt = new Gpt(p);
        Gpt.Batch b = batch(TINY, 2, 8, 6);
        GptParameters once = GptParameters.zeros(TINY);
        gpt.lossAndGradient(b, once, 1.0, 0);
        GptParameters twice = GptParameters.zeros(TINY);
        gpt.lossAndGradient(b, twice, 0.5, 0);
        gpt.lossAndGradient(b, twice, 0.5, 0);
        assertEquals(0.0, once.flat().sub(twice.flat()).amaxNumber().doubleValue(), 1e-6);
    }

    @Test
    void parameterCountMatchesGpt2Small() {
        // GPT-2 small: 124,439,808 parameters (transformers counts the tied head once).
        assertEquals(124_439_808L, new GptConfig(12, 12, 768, 1024, 50257, 0.1).parameterCount());
    }
}
