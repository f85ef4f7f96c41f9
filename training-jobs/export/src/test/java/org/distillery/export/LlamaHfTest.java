package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.DistilleryException;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
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

/**
 * The Llama family against transformers itself: Distillery's Llama exports load as {@code LlamaForCausalLM} with
 * the same logits, greedy tokens and (PyTorch autograd's) gradients; random Llama, Qwen2 and Mistral models saved by
 * transformers import with the same logits; unsupported settings are errors naming their key.
 */
@Tag("numerical")
class LlamaHfTest {
    /** Grouped-query attention (4 heads over 2), q/k/v/o biases, a separate head, an unusual RoPE base. */
    static final GptConfig.Llama GQA = new GptConfig.Llama(2, 48, 2000, 1e-5, false, true);

    @TempDir
    Path tmp;

    @ParameterizedTest
    @CsvSource({"2, false, true", "4, true, false"})
    void transformersRunsTheExportWithTheSameLogitsGreedyTokensAndGradients(int kvHeads, boolean tied, boolean bias)
            throws Exception {
        Checkpoint ck = TinyModels.trained(3, new GptConfig.Llama(kvHeads, 48, 2000, 1e-5, tied, bias));
        Path dir = tmp.resolve("hf");
        HfExporter.export(ck, dir, TensorType.F32, ExportProvenance.of(ck.header(), "model.ckpt", "test"), false);
        assertFalse(Files.exists(dir.resolve("model.safetensors.index.json")));
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        int[] prompt = tok.encode("the cat sat on");
        GptParameters params = GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS));
        Gpt gpt = new Gpt(params);

        JsonNode hf = TinyModels.python("hf_gpt2.py", "run", dir, TinyModels.ids(prompt), 12, "her sister found the mat");
        assertEquals("LlamaForCausalLM", hf.get("class").asText());
        assertTrue(maxDiff(gpt.logits(prompt, 1, prompt.length), hf.get("logits")) < 1e-4, "logits");
        int[] greedy = new Generator(gpt).generate(prompt, 12, new Sampler(0, 0, 1.0, 0), tok.idOf("<|endoftext|>"));
        assertArrayEquals(greedy, toInts(hf.get("greedy")), "greedy generations agree token for token");
        assertArrayEquals(tok.encode("her sister found the mat"), toInts(hf.get("encode")), "AutoTokenizer ids");

        int[] ids = tok.encode("a dog walked to the river. her sister");
        int[] inputs = java.util.Arrays.copyOf(ids, ids.length - 1);
        int[] targets = java.util.Arrays.copyOfRange(ids, 1, ids.length);
        GptParameters grads = GptParameters.zeros(params.config());
        double loss = gpt.lossAndGradient(new Gpt.Batch(inputs, targets, 1, inputs.length), grads, 1.0, 0);
        JsonNode torch = TinyModels.python("hf_llama.py", "grads", dir, TinyModels.ids(inputs), TinyModels.ids(targets));
        assertEquals(torch.get("loss").asDouble(), loss, 1e-5, "mean cross-entropy");
        StringBuilder report = new StringBuilder();
        int compared = 0;
        for (NamedTensor t : HfLlama.tensors(grads)) {
            JsonNode want = torch.get("grads").get(t.name());
            assertTrue(want != null && want.size() == t.elements(), t.name() + " in PyTorch's parameters");
            float[] got = t.values().dup('c').data().asFloat();
            double scale = 0;
            double diff = 0;
            for (int i = 0; i < got.length; i++) {
                scale = Math.max(scale, Math.abs(want.get(i).asDouble()));
                diff = Math.max(diff, Math.abs(got[i] - want.get(i).asDouble()));
            }
            if (diff > 1e-4 * Math.max(scale, 1e-3)) {
                report.append(t.name()).append(": max diff ").append(diff).append(" of max |grad| ").append(scale)
                        .append('\n');
            }
            compared++;
        }
        assertEquals(torch.get("grads").size(), compared, "every parameter PyTorch has");
        assertTrue(report.length() == 0, report.toString());
    }

    @Test
    void anExportImportsBackBitForBit() throws Exception {
        Checkpoint ck = TinyModels.trained(4, GQA);
        Path dir = tmp.resolve("hf");
        HfExporter.export(ck, dir, TensorType.F32, ExportProvenance.of(ck.header(), "model.ckpt", "test"), false);
        Checkpoint back = HfImporter.read(dir, "test");
        assertEquals(ck.header().model(), back.header().model());
        assertEquals(0.0, back.section(Checkpoint.PARAMS).sub(ck.section(Checkpoint.PARAMS)).amaxNumber().doubleValue());
        assertEquals("run-123", back.header().runId());
    }

    @ParameterizedTest
    @CsvSource({"llama, 0", "qwen2, 1", "mistral, 0"})
    void aRandomModelSavedByTransformersImportsWithTheSameLogits(String kind, int sharded) throws Exception {
        Path dir = tmp.resolve(kind);
        Files.createDirectories(dir);
        int[] ids = {5, 17, 200, 3, 42, 42, 7, 250, 1};
        JsonNode hf = TinyModels.python("hf_llama.py", "random", kind, dir, TinyModels.ids(ids), sharded);
        assertEquals(sharded == 1, Files.exists(dir.resolve("model.safetensors.index.json")), "sharded as asked");
        Checkpoint ck = HfImporter.read(dir, "test");
        GptConfig c = ck.header().model();
        assertEquals(GptConfig.LLAMA, c.arch());
        assertEquals(2, c.kvHeads());
        assertEquals(6, c.nHead());
        assertEquals(kind.equals("qwen2"), c.llama().attentionBias(), "Qwen2's q/k/v biases");
        assertEquals(5000.0, c.llama().ropeTheta());
        Gpt gpt = new Gpt(GptParameters.wrap(c, ck.section(Checkpoint.PARAMS)));
        assertTrue(maxDiff(gpt.logits(ids, 1, ids.length), hf.get("logits")) < 1e-4, kind + " logits");
        // its Llama-3-style tokenizer came along and encodes as the file says
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "imported");
        assertTrue(tok.encode("12345").length >= 2, "digits split in groups of up to three");
    }

    @Test
    void unsupportedSettingsAreErrorsNamingTheirKey() throws Exception {
        // kind, the key the error names, the config.json override
        String[][] cases = {
            {"mistral", "sliding_window", "{\"sliding_window\": 16}"},
            {"llama", "rope_scaling", "{\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}}"},
            {"llama", "rope_parameters.rope_type",
                "{\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 10000.0, \"factor\": 8.0}}"},
            {"llama", "hidden_act", "{\"hidden_act\": \"gelu\"}"},
            {"llama", "mlp_bias", "{\"mlp_bias\": true}"},
            {"llama", "key quantization_config", "{\"quantization_config\": {\"bits\": 4}}"},
            {"qwen2", "use_mrope", "{\"use_mrope\": true}"},
            {"llama", "head_dim", "{\"head_dim\": 16}"},
        };
        StringBuilder request = new StringBuilder("[");
        for (int i = 0; i < cases.length; i++) {
            request.append(i == 0 ? "" : ",").append("[\"").append(cases[i][0]).append("\", \"")
                    .append(tmp.resolve("refused-" + i)).append("\", ").append(cases[i][2]).append("]");
        }
        Path file = Files.writeString(tmp.resolve("refusals.json"), request.append("]").toString());
        TinyModels.python("hf_llama.py", "configs", file);
        String tokenizer = HfTokenizerJson.toJson(TinyModels.tokenizer());
        for (int i = 0; i < cases.length; i++) {
            Path dir = tmp.resolve("refused-" + i);
            Files.writeString(dir.resolve("tokenizer.json"), tokenizer);
            DistilleryException e = assertThrows(DistilleryException.class, () -> HfImporter.read(dir, "test"));
            assertTrue(e.getMessage().startsWith(dir.resolve("config.json") + ": ") && e.getMessage().contains(cases[i][1]),
                    cases[i][2] + ": " + e.getMessage());
        }
    }

    private static double maxDiff(INDArray mine, JsonNode rows) {
        double max = 0;
        for (int t = 0; t < rows.size(); t++) {
            for (int v = 0; v < rows.get(t).size(); v++) {
                max = Math.max(max, Math.abs(mine.getDouble(t, v) - rows.get(t).get(v).asDouble()));
            }
        }
        return max;
    }

    private static int[] toInts(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
