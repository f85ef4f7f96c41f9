package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** GGUF exports read back by the gguf package (llama.cpp's gguf-py) and by Distillery's own reader. */
@Tag("numerical")
class GgufExportTest {
    @TempDir
    Path tmp;

    @Test
    void ggufPyReadsLlamaCppsGpt2LayoutTokenizerAndProvenance() throws Exception {
        Checkpoint ck = TinyModels.trained(4);
        GptConfig c = ck.header().model();
        GptParameters p = GptParameters.wrap(c, ck.section(Checkpoint.PARAMS));
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        for (TensorType type : new TensorType[] {TensorType.F32, TensorType.F16}) {
            Path dir = tmp.resolve(type.optionName());
            GgufExporter.export(ck, dir, type, ExportProvenance.of(ck.header(), "model.ckpt", "test-version"), false);
            Path file = dir.resolve(GgufExporter.FILE);
            JsonNode r = TinyModels.python("gguf_read.py", file);
            JsonNode m = r.get("metadata");
            assertEquals("gpt2", m.get("general.architecture").asText());
            assertEquals(c.nLayer(), m.get("gpt2.block_count").asInt());
            assertEquals(c.blockSize(), m.get("gpt2.context_length").asInt());
            assertEquals(c.nEmbd(), m.get("gpt2.embedding_length").asInt());
            assertEquals(4 * c.nEmbd(), m.get("gpt2.feed_forward_length").asInt());
            assertEquals(c.nHead(), m.get("gpt2.attention.head_count").asInt());
            assertEquals(1e-5, m.get("gpt2.attention.layer_norm_epsilon").asDouble(), 1e-9);
            assertEquals(type == TensorType.F16 ? 1 : 0, m.get("general.file_type").asInt());
            assertEquals("gpt2", m.get("tokenizer.ggml.model").asText());
            assertEquals(c.vocabSize(), m.get("tokenizer.ggml.tokens").size());
            assertEquals(tok.tokenOf(100), m.get("tokenizer.ggml.tokens").get(100).asText());
            assertEquals(tok.merges().size(), m.get("tokenizer.ggml.merges").size());
            BpeTokenizer.Merge first = tok.merges().get(0);
            assertEquals(first.left() + " " + first.right(), m.get("tokenizer.ggml.merges").get(0).asText());
            assertEquals(tok.idOf("<|endoftext|>"), m.get("tokenizer.ggml.eos_token_id").asInt());
            assertEquals("run-123", m.get("distillery.run_id").asText());
            assertEquals(ck.header().tokenizer().sha256(), m.get("distillery.tokenizer_sha256").asText());

            JsonNode tensors = r.get("tensors");
            assertEquals(4 + 12 * c.nLayer(), tensors.size());
            for (JsonNode t : tensors) {
                String name = t.get("name").asText();
                assertFalse(name.equals("output.weight"), "the head is tied: no output tensor");
                String mine = distilleryName(name);
                INDArray want = p.get(mine);
                boolean linear = want.rank() == 2 && mine.startsWith("h.");
                if (linear) {
                    want = want.transpose().dup('c');
                }
                long[] numpyShape = want.shape();
                assertEquals(List.of(numpyShape[numpyShape.length - 1], numpyShape.length == 2 ? numpyShape[0] : -1)
                        .subList(0, numpyShape.length), toLongs(t.get("dims")), name + " dims (fastest first)");
                boolean half = type == TensorType.F16 && numpyShape.length == 2;
                assertEquals(half ? "F16" : "F32", t.get("type").asText(), name);
                float[] w = want.reshape(want.length()).toFloatVector();
                JsonNode got = t.get("values");
                assertEquals(w.length, got.size(), name);
                for (int i = 0; i < w.length; i++) {
                    float expected = half ? TensorType.fromHalf(TensorType.toHalf(w[i])) : w[i];
                    assertEquals(expected, (float) got.get(i).asDouble(), 0f, name + "[" + i + "]");
                }
            }
            GgufFile own = GgufFile.open(file);
            assertEquals(3, own.version());
            assertEquals(4 + 12 * c.nLayer(), own.tensors().size());
            assertEquals("gpt2", own.metadata().get("general.architecture"));
        }
    }

    private static List<Long> toLongs(JsonNode a) {
        java.util.ArrayList<Long> out = new java.util.ArrayList<>();
        a.forEach(x -> out.add(x.asLong()));
        return out;
    }

    private static String distilleryName(String gguf) {
        for (String n : GptParameters.layout(new GptConfig(2, 2, 32, 24, 300, 0)).keySet()) {
            if (GgufExporter.ggufName(n).equals(gguf)) {
                return n;
            }
        }
        throw new AssertionError("unexpected tensor " + gguf);
    }
}
