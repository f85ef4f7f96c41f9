package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GGUF q8_0, q4_0 and q6_k exports: ggml's block layouts, bit for bit as llama.cpp's own quantizer writes them from
 * Distillery's f32 GGUF, and run by llama.cpp with logits close to Distillery's on the dequantized weights.
 */
@Tag("numerical")
class GgufQuantTest {
    /** A tiny trained model of either architecture, 32 wide: every row a whole number of blocks. */
    static Checkpoint model(String arch) {
        return model(arch, 32);
    }

    /** As {@link #model(String)}, {@code width} wide: at 256 every row is also a whole number of q6_k super-blocks. */
    static Checkpoint model(String arch, int width) {
        return arch.equals("gpt2") ? TinyModels.trained(11, null, width)
                : TinyModels.trained(12, new GptConfig.Llama(2, 2 * width, 10000, 1e-5, false, true), width);
    }

    /**
     * Rows of the token embedding made into the blocks a k-quant's search handles apart: all zero, a zero and a
     * near-zero sub-block beside normal ones (the near-zero one's int8 scale rounds to 0, so its quants stay those of
     * the search), one outlier, values under ggml's GROUP_MAX_EPS, and values whose float16 super-scale underflows.
     */
    static void edgeRows(Checkpoint ck) {
        INDArray table = GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)).embedding();
        long width = table.columns();
        table.getRow(0).assign(0);
        table.get(NDArrayIndex.point(1), NDArrayIndex.interval(0, 16)).assign(0);
        table.get(NDArrayIndex.point(1), NDArrayIndex.interval(16, 32)).muli(1e-7);
        table.putScalar(2, 20, table.getDouble(2, 20) * 50 + 1);
        table.getRow(3).assign(1e-20);
        table.getRow(4).muli(1e-9);
        assertEquals(width, table.getRow(4).length());
    }

    @TempDir
    Path tmp;

    /** roundf exactly: ties away from zero, and 0.49999997 (where v + 0.5f rounds up) to 0. */
    @Test
    void q8RoundsAsCsRoundf() {
        float[] x = new float[32];
        float[] v = {127f, 0.49999997f, -0.49999997f, 2.5f, -2.5f, 126.5f, -126.5f, 0.5f, -0.5f, 1.4999999f, -3.5f};
        System.arraycopy(v, 0, x, 0, v.length);
        byte[] out = new byte[34];
        GgmlBlocks.Q8_0.quantize(x, 0, out, 0); // amax 127: the scale is 1, the quants are roundf(x)
        byte[] want = {127, 0, 0, 3, -3, 127, -127, 1, -1, 1, -4};
        assertArrayEquals(want, java.util.Arrays.copyOfRange(out, 2, 2 + want.length));
    }

    @Test
    void blocksAreGgmlsReferenceQuantization() {
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = (i - 12) * 0.25f; // -3.0 .. 4.75: amax 4.75 at the end, halves that round away from zero
        }
        ByteBuffer q8 = ByteBuffer.allocate(34).order(ByteOrder.LITTLE_ENDIAN);
        GgmlBlocks.Q8_0.quantize(x, 0, q8);
        float d = 4.75f / 127;
        assertEquals(org.distillery.core.io.Float16.fromFloatBits(Float.floatToRawIntBits(d)), q8.getShort(0));
        float id = 1.0f / d;
        for (int i = 0; i < 32; i++) {
            assertEquals(Math.round(Math.abs(x[i] * id)) * (int) Math.signum(x[i] * id), q8.get(2 + i), "value " + i);
        }
        ByteBuffer q4 = ByteBuffer.allocate(18).order(ByteOrder.LITTLE_ENDIAN);
        GgmlBlocks.Q4_0.quantize(x, 0, q4);
        float d4 = 4.75f / -8;
        float id4 = 1.0f / d4;
        for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, (int) (x[j] * id4 + 8.5f));
            int hi = Math.min(15, (int) (x[j + 16] * id4 + 8.5f));
            assertEquals((byte) (lo | hi << 4), q4.get(2 + j), "byte " + j + ": value " + j + " low, " + (j + 16) + " high");
        }
        float[] back = new float[32];
        q4.position(0);
        GgmlBlocks.Q4_0.dequantize(q4, back, 0);
        for (int i = 0; i < 32; i++) {
            assertEquals(x[i], back[i], Math.abs(d4) / 2 + 1e-3, "q4_0 is within half a step of " + x[i]);
        }
        assertEquals(-8 * TensorType.fromHalf(q4.getShort(0)), back[31], 0f, "the largest value comes back as -8 d");
    }

    /**
     * Every tensor is written in the type llama_model_quantize chooses for it, byte for byte as it writes it: at 32
     * wide the k-quant falls back to q8_0 (as llama.cpp's does), at 256 its super-blocks are compared, edge rows too.
     */
    @ParameterizedTest
    @CsvSource({"gpt2, q8_0, 32", "gpt2, q4_0, 32", "llama, q8_0, 32", "llama, q4_0, 32", "gpt2, q6_k, 256",
            "llama, q6_k, 256", "llama, q4_0, 256", "gpt2, q4_0, 256", "gpt2, q6_k, 32"})
    void blocksEqualLlamaCppsOwnQuantizerAndLlamaCppRunsThem(String arch, String dtype, int width) throws Exception {
        Checkpoint ck = model(arch, width);
        edgeRows(ck);
        ExportProvenance p = ExportProvenance.of(ck.header(), "model.ckpt", "test");
        Path f32 = tmp.resolve("f32");
        GgufExporter.export(ck, f32, ExportDtype.FP32, p, false);
        Path q = tmp.resolve(dtype);
        List<String> notes = GgufExporter.export(ck, q, ExportDtype.parse(dtype), p, false);
        if (dtype.equals("q6_k") && width == 32) {
            assertTrue(!notes.isEmpty() && notes.stream().allMatch(n -> n.contains("no multiple of 256, so it is"
                    + " written in q8_0")), notes.toString());
        } else {
            assertEquals(List.of(), notes, width + " wide: every row a whole number of blocks");
        }
        JsonNode cmp = TinyModels.python("gguf_quantize_compare.py", f32.resolve(GgufExporter.FILE),
                q.resolve(GgufExporter.FILE), dtype, tmp.resolve("theirs.gguf"));
        List<String> mismatched = new ArrayList<>();
        List<String> otherType = new ArrayList<>();
        java.util.Map<String, Integer> quantized = new java.util.TreeMap<>();
        for (JsonNode t : cmp.get("tensors")) {
            if (!t.get("same_type").asBoolean()) {
                otherType.add(t.get("name").asText() + " ours " + t.get("ours").asText() + " theirs " + t.get("theirs").asText());
            } else if (!t.get("equal").asBoolean()) {
                mismatched.add(t.toString());
            } else if (t.get("theirs").asText().startsWith("Q")) {
                quantized.merge(t.get("theirs").asText(), 1, Integer::sum);
            }
        }
        assertTrue(mismatched.isEmpty(), "blocks differ from llama.cpp's: " + mismatched);
        assertEquals(List.of(), otherType, "tensors llama.cpp's quantizer writes in another type");
        assertEquals(0, cmp.get("only_ours").size(), cmp.toString());
        int total = quantized.values().stream().mapToInt(Integer::intValue).sum();
        assertTrue(total >= 8, total + " quantized tensors compared");
        if (width == 256 && !dtype.equals("q8_0")) { // the LM head (q4_0) or every matrix (q6_k) in super-blocks
            assertTrue(quantized.getOrDefault("Q6_K", 0) >= (dtype.equals("q6_k") ? 8 : 1), quantized.toString());
        }
        System.out.printf("%s %s %d wide: quantized tensors byte for byte llama.cpp's: %s%n", arch, dtype, width,
                quantized);

        // llama.cpp runs it: logits close to Distillery's own on the weights as the file holds them
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        int[] prompt = tok.encode("the cat sat on the mat");
        Gpt stored = new Gpt(GgufExporter.asStored(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)),
                ExportDtype.parse(dtype)));
        JsonNode run = TinyModels.python("llamacpp_run.py", q.resolve(GgufExporter.FILE), TinyModels.ids(prompt), 1, -1);
        INDArray mine = stored.logits(prompt, 1, prompt.length);
        double maxDiff = 0;
        for (int t = 0; t < prompt.length; t++) {
            for (int v = 0; v < tok.vocabSize(); v++) {
                maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - run.get("logits").get(t).get(v).asDouble()));
            }
        }
        System.out.printf("%s %s %d wide: llama.cpp logits within %.2e of Distillery's on the dequantized weights"
                + " (largest |logit| %.2f, std %.2f)%n", arch, dtype, width, maxDiff, mine.amaxNumber().doubleValue(),
                mine.stdNumber().doubleValue());
        // llama.cpp multiplies quantized weights by activations it rounds to 8 bits itself (q8_0, or q8_K against
        // q6_k): the difference is that rounding, not the weights', and grows with the logits
        double tolerance = 0.02 * mine.amaxNumber().doubleValue();
        assertTrue(maxDiff < tolerance, arch + " " + dtype + " " + width + " wide: max |logit difference| " + maxDiff
                + " over " + tolerance);
    }

    @Test
    void aDamagedQuantizedFileIsRefusedNamingTheTensor() throws Exception {
        Checkpoint ck = model("llama");
        Path q = tmp.resolve("q4");
        GgufExporter.export(ck, q, ExportDtype.Q4_0, ExportProvenance.of(ck.header(), "model.ckpt", "test"), false);
        Path file = q.resolve(GgufExporter.FILE);
        byte[] bytes = java.nio.file.Files.readAllBytes(file);
        java.nio.file.Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 40));
        org.distillery.core.DistilleryException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.distillery.core.DistilleryException.class, () -> GgufFile.open(file));
        assertTrue(e.getMessage().startsWith(file + ": tensor ") && e.getMessage().contains("truncated"), e.getMessage());
    }
}
