package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.Generator;
import org.distillery.model.Gpt;
import org.distillery.model.GptParameters;
import org.distillery.model.Sampler;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Exports loaded by transformers itself: same logits, same greedy text, same tokens; and imports back. */
@Tag("numerical")
class HfExportTest {
    @TempDir
    Path tmp;

    private static ExportProvenance provenance(Checkpoint ck) {
        return ExportProvenance.of(ck.header(), "model.ckpt", "test-version");
    }

    @Test
    void transformersLoadsTheExportAndAgreesOnLogitsGreedyTextAndTokens() throws Exception {
        Checkpoint ck = TinyModels.trained(1);
        Path dir = tmp.resolve("hf");
        HfExporter.export(ck, dir, TensorType.F32, provenance(ck), false);
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(1, s.count(), "nothing but the finished folder is left beside it");
        }
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        int[] prompt = tok.encode("the cat sat on");
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));
        int eot = tok.idOf("<|endoftext|>");

        JsonNode hf = TinyModels.python("hf_gpt2.py", "run", dir, TinyModels.ids(prompt), 12, "her sister found the mat");

        assertEquals("GPT2LMHeadModel", hf.get("class").asText());
        INDArray mine = gpt.logits(prompt, 1, prompt.length);
        double maxDiff = 0;
        for (int t = 0; t < prompt.length; t++) {
            for (int v = 0; v < tok.vocabSize(); v++) {
                maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - hf.get("logits").get(t).get(v).asDouble()));
            }
        }
        assertTrue(maxDiff < 1e-4, "max |logit difference| " + maxDiff);
        int[] greedy = new Generator(gpt).generate(prompt, 12, new Sampler(0, 0, 1.0, 0), eot);
        assertArrayEquals(greedy, toInts(hf.get("greedy")), "greedy generations agree token for token");
        assertArrayEquals(tok.encode("her sister found the mat"), toInts(hf.get("encode")), "AutoTokenizer ids");
    }

    @Test
    void sixteenBitExportsRoundLikeTorchAndCarryProvenance() throws Exception {
        Checkpoint ck = TinyModels.trained(2);
        Path f32 = tmp.resolve("f32");
        HfExporter.export(ck, f32, TensorType.F32, provenance(ck), false);
        for (TensorType type : new TensorType[] {TensorType.F16, TensorType.BF16}) {
            Path dir = tmp.resolve(type.optionName());
            HfExporter.export(ck, dir, type, provenance(ck), false);
            JsonNode r = TinyModels.python("hf_gpt2.py", "narrow", f32, dir, type.optionName());
            assertEquals(0, r.get("mismatched_values").asInt(), type + ": values differ from torch's rounding");
            assertEquals(ck.header().model().nLayer() * 12 + 4, r.get("tensors").asInt());
            JsonNode meta = r.get("metadata");
            assertEquals("run-123", meta.get("distillery.run_id").asText());
            assertEquals("ab".repeat(32), meta.get("distillery.dataset_manifest_sha256").asText());
            assertEquals(ck.header().tokenizer().sha256(), meta.get("distillery.tokenizer_sha256").asText());
            assertEquals("test-version", meta.get("distillery.version").asText());
            assertEquals("32", meta.get("distillery.model.n_embd").asText());
            assertEquals(type == TensorType.F16 ? "torch.float16" : "torch.bfloat16", r.get("loaded_dtype").asText());
        }
    }

    @Test
    void importOfAnExportIsTheSameModelBitForBit() throws Exception {
        Checkpoint ck = TinyModels.trained(3);
        Path dir = tmp.resolve("hf");
        HfExporter.export(ck, dir, TensorType.F32, provenance(ck), false);
        Checkpoint back = HfImporter.read(dir, "test-version");
        assertEquals(ck.header().model(), back.header().model());
        assertEquals(ck.header().tokenizer(), back.header().tokenizer());
        assertEquals("run-123", back.header().runId());
        assertEquals(30, back.header().step());
        float[] a = ck.section(Checkpoint.PARAMS).toFloatVector();
        float[] b = back.section(Checkpoint.PARAMS).toFloatVector();
        assertEquals(a.length, b.length);
        for (int i = 0; i < a.length; i++) {
            assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), "value " + i);
        }
        Path file = tmp.resolve("imported.ckpt");
        back.write(file);
        assertEquals(ck.header().tokenizer().sha256(), Checkpoint.read(file).header().tokenizer().sha256());
    }

    @Test
    void aRandomGpt2SavedByTransformersImportsWithTheSameLogits() throws Exception {
        Path dir = tmp.resolve("random");
        Files.createDirectories(dir);
        int[] ids = {5, 17, 200, 3, 42, 42, 7};
        JsonNode hf = TinyModels.python("hf_gpt2.py", "random", dir, TinyModels.ids(ids));
        Checkpoint ck = HfImporter.read(dir, "test-version");
        assertEquals(48, ck.header().model().nEmbd());
        assertEquals(3, ck.header().model().nHead());
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));
        INDArray mine = gpt.logits(ids, 1, ids.length);
        double maxDiff = 0;
        for (int t = 0; t < ids.length; t++) {
            JsonNode row = hf.get("logits").get(t);
            for (int v = 0; v < row.size(); v++) {
                maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - row.get(v).asDouble()));
            }
        }
        assertTrue(maxDiff < 1e-4, "max |logit difference| " + maxDiff);
    }

    private static int[] toInts(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
