package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

@Tag("numerical")
public class GptTest {
    static final GptConfig TINY = new GptConfig(2, 2, 16, 8, 37, 0.0);

    public static Gpt.Batch batch(GptConfig c, int b, int t, long seed) {
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

    /** sum(G_i ⊙ H_i) over the hidden states read: a linear loss, so its gradient wrt H_i is G_i. */
    static final class LinearHiddenLoss implements Gpt.HiddenLoss {
        final int[] layers;
        final INDArray[] weights;

        LinearHiddenLoss(int[] layers, int rows, int width) {
            this.layers = layers;
            this.weights = new INDArray[layers.length];
            for (int i = 0; i < layers.length; i++) {
                weights[i] = Nd4j.randn(Nd4j.getRandomFactory().getNewRandomInstance(40 + i), new long[] {rows, width})
                        .castTo(DataType.FLOAT);
            }
        }

        @Override
        public int[] layers() {
            return layers;
        }

        @Override
        public double apply(INDArray[] hidden, INDArray[] grad, double scale) {
            double v = 0;
            for (int i = 0; i < layers.length; i++) {
                v += hidden[i].mul(weights[i]).sumNumber().doubleValue();
                grad[i].assign(weights[i].mul(scale));
            }
            return v;
        }

        double value(Gpt gpt, Gpt.Batch b) {
            INDArray[] h = new INDArray[layers.length];
            for (int i = 0; i < h.length; i++) {
                h[i] = Nd4j.createUninitializedDetached(DataType.FLOAT, (long) b.batch() * b.time(), gpt.config().nEmbd());
            }
            gpt.hiddenStates(b.inputs(), b.batch(), b.time(), layers, h, null);
            double v = 0;
            for (int i = 0; i < layers.length; i++) {
                v += h[i].mul(weights[i]).sumNumber().doubleValue();
            }
            return v;
        }
    }

    /**
     * A loss on hidden states sends its gradient back from where each state was read (the embeddings,
     * between blocks, the last block): the gradient's directional derivative matches central differences.
     */
    @Test
    void hiddenStateGradientsJoinTheResidualStreamWhereTheyWereRead() {
        GptParameters p = params(TINY, 7);
        Gpt gpt = new Gpt(p);
        Gpt.Batch b = batch(TINY, 3, 8, 8);
        LinearHiddenLoss hidden = new LinearHiddenLoss(new int[] {0, 1, 2}, 24, TINY.nEmbd());
        GptParameters g = GptParameters.zeros(TINY);
        Gpt.LogitLoss none = (logits, targets, grad, scale) -> {
            grad.assign(0);
            return 0;
        };
        double value = gpt.lossAndGradient(b, g, 1.0, 0, none, hidden);
        assertEquals(hidden.value(gpt, b), value, 1e-3 * Math.abs(value));
        INDArray direction = Nd4j.randn(Nd4j.getRandomFactory().getNewRandomInstance(9), new long[] {p.flat().length()})
                .castTo(DataType.FLOAT);
        direction.divi(direction.norm2Number());
        double eps = 1e-3;
        INDArray start = p.flat().dup();
        p.flat().addi(direction.mul(eps));
        double up = hidden.value(gpt, b);
        p.flat().assign(start).subi(direction.mul(eps));
        double down = hidden.value(gpt, b);
        p.flat().assign(start);
        double numeric = (up - down) / (2 * eps);
        double analytic = g.flat().mul(direction).sumNumber().doubleValue();
        assertEquals(numeric, analytic, 2e-2 * Math.abs(numeric) + 1e-3, "directional derivative");
        // with the cross-entropy as well, the gradients add up
        GptParameters ce = GptParameters.zeros(TINY);
        double ceLoss = gpt.lossAndGradient(b, ce, 1.0, 0);
        GptParameters both = GptParameters.zeros(TINY);
        double sum = gpt.lossAndGradient(b, both, 1.0, 0, Kernels.forBackend()::crossEntropy, hidden);
        assertEquals(ceLoss + value, sum, 1e-3 * Math.abs(sum));
        assertEquals(0.0, both.flat().sub(ce.flat()).sub(g.flat()).amaxNumber().doubleValue(),
                1e-4 * g.flat().amaxNumber().doubleValue());
    }

    @Test
    void hiddenStatesAndLastLogitsAgreeWithTheFullPass() {
        GptParameters p = params(TINY, 11);
        Gpt gpt = new Gpt(p);
        Gpt.Batch b = batch(TINY, 2, 8, 12);
        INDArray logits = gpt.logits(b.inputs(), 2, 8);
        INDArray[] full = {Nd4j.create(DataType.FLOAT, 16, 16), Nd4j.create(DataType.FLOAT, 16, 16)};
        INDArray withHead = Nd4j.create(DataType.FLOAT, 16, 37);
        gpt.hiddenStates(b.inputs(), 2, 8, new int[] {1, 2}, full, withHead);
        assertEquals(0.0, withHead.sub(logits).amaxNumber().doubleValue(), 1e-6);
        INDArray[] truncated = {Nd4j.create(DataType.FLOAT, 16, 16)};
        gpt.hiddenStates(b.inputs(), 2, 8, new int[] {1}, truncated, null); // stops after block 1
        assertEquals(0.0, truncated[0].sub(full[0]).amaxNumber().doubleValue(), 1e-6);
        assertTrue(full[1].sub(full[0]).amaxNumber().doubleValue() > 1e-3, "block 2 changes the stream");
        INDArray last = Nd4j.create(DataType.FLOAT, 2, 37);
        gpt.lastLogits(b.inputs(), 2, 8, last);
        assertEquals(0.0, last.getRow(0).sub(logits.getRow(7)).amaxNumber().doubleValue(), 1e-5);
        assertEquals(0.0, last.getRow(1).sub(logits.getRow(15)).amaxNumber().doubleValue(), 1e-5);
    }

    /** Prefill and one token at a time through the KV cache give the full pass's last-position logits. */
    @ParameterizedTest
    @MethodSource("kernels")
    void theDecoderGivesTheFullPassLogitsAtEveryPosition(Kernels kernels) {
        GptConfig c = new GptConfig(2, 3, 21, 13, 37, 0.0); // head size 7: no whole SIMD vector
        Gpt gpt = new Gpt(params(c, 21), kernels);
        int rows = 3;
        Gpt.Batch b = batch(c, rows, 13, 22);
        Gpt.Decoder decoder = gpt.decoder(rows, 13);
        INDArray cached = Nd4j.create(DataType.FLOAT, rows, 37);
        INDArray full = Nd4j.create(DataType.FLOAT, rows, 37);
        int prompt = 4;
        for (int len = prompt; len <= 13; len++) {
            int[] prefix = new int[rows * len];
            int[] fed = new int[rows * (len == prompt ? prompt : 1)];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(b.inputs(), r * 13, prefix, r * len, len);
                int width = fed.length / rows;
                System.arraycopy(b.inputs(), r * 13 + len - width, fed, r * width, width);
            }
            if (len == prompt) {
                decoder.prefill(fed, prompt, cached);
            } else {
                decoder.next(fed, cached);
            }
            assertEquals(len, decoder.length());
            gpt.lastLogits(prefix, rows, len, full);
            assertEquals(0.0, cached.sub(full).amaxNumber().doubleValue(), 1e-4, "position " + (len - 1));
        }
        IllegalArgumentException past = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> decoder.next(new int[rows], cached));
        assertEquals("position 13 is past the decoder's 13 positions", past.getMessage());
    }

    /** Generation past block_size slides its window (the cache rebuilt) and picks what the full pass picks. */
    @Test
    void greedyGenerationMatchesTheFullPassBeyondTheBlock() {
        Gpt gpt = new Gpt(params(TINY, 31));
        int[] prompt = {3, 1, 4, 1, 5};
        int[] got = new Generator(gpt).generate(prompt, 12, new Sampler(0, 0, 1, 0), -1);
        int[] want = java.util.Arrays.copyOf(prompt, prompt.length + 12);
        for (int n = prompt.length; n < want.length; n++) {
            int[] window = java.util.Arrays.copyOfRange(want, Math.max(0, n - TINY.blockSize()), n);
            float[] logits = gpt.lastLogits(window).toFloatVector();
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                best = logits[v] > logits[best] ? v : best;
            }
            want[n] = best;
        }
        assertArrayEquals(want, got, "17 tokens, block_size 8");
    }

    @Test
    void parameterCountMatchesGpt2Small() {
        // GPT-2 small: 124,439,808 parameters (transformers counts the tied head once).
        assertEquals(124_439_808L, new GptConfig(12, 12, 768, 1024, 50257, 0.1).parameterCount());
    }
}
