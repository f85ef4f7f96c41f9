package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The Llama path of {@link Gpt} against SameDiff's autodiff of {@link LlamaGraph}, in every kernel engine. */
@Tag("numerical")
class LlamaTest {
    /** Grouped-query (4 query heads over 2 key/value heads), q/k/v/o biases, a separate LM head. */
    static final GptConfig GQA = new GptConfig(2, 4, 24, 8, 37, 0.0,
            new GptConfig.Llama(2, 40, 10000, 1e-5, false, true));
    /** Plain multi-head attention, no biases, the head tied to the embedding; an odd RoPE base. */
    static final GptConfig MHA = new GptConfig(2, 2, 16, 8, 37, 0.0,
            new GptConfig.Llama(2, 24, 500, 1e-6, true, false));

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        GptTest.kernels().forEach(k -> {
            all.add(Arguments.of(GQA, k));
            all.add(Arguments.of(MHA, k));
        });
        return all.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void logitsAndLossMatchSameDiff(GptConfig c, Kernels kernels) {
        GptParameters p = GptTest.params(c, 1);
        Gpt.Batch b = GptTest.batch(c, 3, 8, 2);
        Gpt gpt = new Gpt(p, kernels);
        LlamaGraph graph = new LlamaGraph(p, 3, 8);
        INDArray mine = gpt.logits(b.inputs(), 3, 8);
        INDArray ref = graph.logits(b);
        assertEquals(0.0, mine.sub(ref).amaxNumber().doubleValue(), 1e-4, kernels.name());
        assertEquals(graph.loss(b), gpt.loss(b), 1e-5);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void gradientsMatchSameDiffAutodiff(GptConfig c, Kernels kernels) {
        GptParameters p = GptTest.params(c, 3);
        Gpt.Batch b = GptTest.batch(c, 3, 7, 4);
        Gpt gpt = new Gpt(p, kernels);
        GptParameters g = GptParameters.zeros(c);
        double loss = gpt.lossAndGradient(b, g, 1.0, 0);
        LlamaGraph graph = new LlamaGraph(p, 3, 7);
        assertEquals(graph.loss(b), loss, 1e-5);
        Map<String, INDArray> ref = graph.gradients(b);
        StringBuilder report = new StringBuilder();
        for (String name : p.names()) {
            INDArray want = ref.get(name);
            INDArray got = g.get(name);
            assertArrayEquals(want.shape(), got.shape(), name);
            double scale = Math.max(1e-3, want.amaxNumber().doubleValue());
            double err = got.sub(want).amaxNumber().doubleValue() / scale;
            if (err >= 2e-3 || want.amaxNumber().doubleValue() == 0) {
                report.append(name).append(": relative error ").append(err).append(", max |grad| ")
                        .append(want.amaxNumber()).append('\n');
            }
        }
        assertTrue(report.length() == 0, kernels.name() + "\n" + report);
    }

    /** Prefill and one token at a time through the KV cache (RoPE at each token's own position) give the full pass. */
    @ParameterizedTest
    @MethodSource("cases")
    void theDecoderGivesTheFullPassLogitsAtEveryPosition(GptConfig c, Kernels kernels) {
        Gpt gpt = new Gpt(GptTest.params(c, 21), kernels);
        int rows = 2;
        int block = c.blockSize();
        Gpt.Batch b = GptTest.batch(c, rows, block, 22);
        Gpt.Decoder decoder = gpt.decoder(rows, block);
        INDArray cached = Nd4j.create(DataType.FLOAT, rows, c.vocabSize());
        INDArray full = Nd4j.create(DataType.FLOAT, rows, c.vocabSize());
        int prompt = 3;
        for (int len = prompt; len <= block; len++) {
            int[] prefix = new int[rows * len];
            int[] fed = new int[rows * (len == prompt ? prompt : 1)];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(b.inputs(), r * block, prefix, r * len, len);
                int width = fed.length / rows;
                System.arraycopy(b.inputs(), r * block + len - width, fed, r * width, width);
            }
            if (len == prompt) {
                decoder.prefill(fed, prompt, cached);
            } else {
                decoder.next(fed, cached);
            }
            gpt.lastLogits(prefix, rows, len, full);
            assertEquals(0.0, cached.sub(full).amaxNumber().doubleValue(), 1e-4, "position " + (len - 1));
        }
    }

    @Test
    void greedyGenerationMatchesTheFullPassBeyondTheBlock() {
        Gpt gpt = new Gpt(GptTest.params(GQA, 31));
        int[] prompt = {3, 1, 4, 1, 5};
        int[] got = new Generator(gpt).generate(prompt, 12, new Sampler(0, 0, 1, 0), -1);
        int[] want = java.util.Arrays.copyOf(prompt, prompt.length + 12);
        for (int n = prompt.length; n < want.length; n++) {
            int[] window = java.util.Arrays.copyOfRange(want, Math.max(0, n - GQA.blockSize()), n);
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
    void layoutAndCountMatchTinyLlama() {
        // TinyLlama-1.1B: 22 layers, 2048 wide, 32 heads over 4 kv heads, MLP 5632, 32000 tokens, untied head:
        // 1,100,048,384 parameters, as transformers counts them.
        GptConfig tiny = new GptConfig(22, 32, 2048, 2048, 32000, 0.0,
                new GptConfig.Llama(4, 5632, 10000, 1e-5, false, false));
        assertEquals(1_100_048_384L, tiny.parameterCount());
        long sum = GptParameters.layout(tiny).values().stream()
                .mapToLong(s -> java.util.Arrays.stream(s).reduce(1, (a, x) -> a * x)).sum();
        assertEquals(tiny.parameterCount(), sum);
        assertEquals(GptConfig.LLAMA, tiny.arch());
        assertEquals(GptConfig.GPT2, GptTest.TINY.arch());
    }

    @Test
    void weightDecayAppliesToTheLinearLayersAndTheSeparateHeadOnly() {
        GptParameters p = GptParameters.zeros(GQA);
        INDArray mask = p.decayMask();
        GptParameters m = GptParameters.wrap(GQA, mask);
        for (String name : p.names()) {
            boolean decayed = m.get(name).maxNumber().doubleValue() > 0;
            boolean matrix = p.get(name).rank() == 2 && !name.equals("embed_tokens.weight");
            assertEquals(matrix, decayed, name);
        }
    }
}
