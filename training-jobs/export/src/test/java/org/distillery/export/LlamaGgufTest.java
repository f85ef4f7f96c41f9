package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import org.distillery.core.DistilleryException;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.core.tokenizer.PreTokenizer;
import org.distillery.model.Checkpoint;
import org.distillery.model.Generator;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.Sampler;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Llama-family GGUF export run by llama.cpp itself (built from source by llama-cpp-python): the same logits, to a
 * stated tolerance, and the same greedy tokens up to end-of-text.
 */
@Tag("numerical")
class LlamaGgufTest {
    /**
     * llama.cpp's float32 kernels sum in other orders than ND4J's BLAS (and its RoPE computes its angles in float):
     * the logits of these tiny models agree to about 1e-5; the bound leaves room.
     */
    static final double LOGIT_TOLERANCE = 1e-3;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @CsvSource({"2, false, true", "4, true, false"})
    void llamaCppRunsTheExportWithTheSameLogitsAndGreedyTokens(int kvHeads, boolean tied, boolean bias)
            throws Exception {
        Checkpoint ck = TinyModels.trained(5, new GptConfig.Llama(kvHeads, 48, 2000, 1e-5, tied, bias));
        Path dir = tmp.resolve("gguf");
        GgufExporter.export(ck, dir, TensorType.F32, ExportProvenance.of(ck.header(), "model.ckpt", "test"), false);
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        int eot = tok.idOf("<|endoftext|>");
        int[] prompt = tok.encode("the cat sat on");
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));

        JsonNode run = TinyModels.python("llamacpp_run.py", dir.resolve(GgufExporter.FILE), TinyModels.ids(prompt), 16,
                eot);

        assertEquals("llama", run.get("arch").asText());
        INDArray mine = gpt.logits(prompt, 1, prompt.length);
        double maxDiff = 0;
        for (int t = 0; t < prompt.length; t++) {
            for (int v = 0; v < tok.vocabSize(); v++) {
                maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - run.get("logits").get(t).get(v).asDouble()));
            }
        }
        System.out.printf("llama.cpp logits within %.2e of Distillery's (kv heads %d, tied %s, bias %s)%n", maxDiff,
                kvHeads, tied, bias);
        assertTrue(maxDiff < LOGIT_TOLERANCE, "max |logit difference| " + maxDiff);
        int[] greedy = new Generator(gpt).generate(prompt, 16, new Sampler(0, 0, 1.0, 0), eot);
        int[] theirs = new int[run.get("greedy").size()];
        for (int i = 0; i < theirs.length; i++) {
            theirs[i] = run.get("greedy").get(i).asInt();
        }
        assertArrayEquals(greedy, theirs, "greedy tokens up to end-of-text");
    }

    /** The converter's permutation: head rows {@code [a0 a1 a2 b0 b1 b2]} become {@code [a0 b0 a1 b1 a2 b2]}. */
    @Test
    void qAndKRowsInterleaveTheirHalvesWithinEachHead() {
        INDArray rows = Nd4j.arange(12).reshape(12, 1).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
        INDArray out = GgufExporter.unrotateHalf(rows, 6);
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11}, out.reshape(12).toFloatVector());
        assertArrayEquals(new float[] {0, 2, 1, 3}, GgufExporter.unrotateHalf(Nd4j.createFromArray(0f, 1f, 2f, 3f), 4)
                .toFloatVector(), "a bias is permuted as the rows are");
    }

    @Test
    void aTokenizerLlamaCppCannotSplitAlikeIsRefused() {
        BpeTokenizer gpt2 = TinyModels.tokenizer();
        BpeTokenizer tok = new BpeTokenizer(gpt2.vocab(), gpt2.merges(), gpt2.specialTokens(),
                new BpeTokenizer.Options(PreTokenizer.Regex.of("\\d+|\\D+"), false, false));
        DistilleryException e = assertThrows(DistilleryException.class, () -> GgufExporter.preTokenizer(tok));
        assertTrue(e.getMessage().contains("\\d+|\\D+") && e.getMessage().contains("llama.cpp"), e.getMessage());
    }
}
