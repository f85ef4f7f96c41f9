package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
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

/** ONNX exports run by ONNX Runtime (Java and Python) and passed by the onnx checker, against Distillery's logits. */
@Tag("numerical")
class OnnxExportTest {
    @TempDir
    Path tmp;

    @Test
    void onnxRuntimeAndTheCheckerAgreeWithDistillery() throws Exception {
        agree(TinyModels.trained(7));
    }

    /** RoPE, RMSNorm, grouped-query attention (repeated with Expand) and the SiLU-gated MLP in standard ops. */
    @Test
    void aLlamaModelsExportAgreesToo() throws Exception {
        agree(TinyModels.trained(7, LlamaHfTest.GQA));
        agree(TinyModels.trained(8, new org.distillery.model.GptConfig.Llama(4, 40, 10000, 1e-6, true, false)));
    }

    private void agree(Checkpoint ck) throws Exception {
        Path dir = tmp.resolve("onnx-" + ck.header().model().arch() + "-" + ck.header().model().kvHeads());
        OnnxExporter.export(ck, dir, false, ExportProvenance.of(ck.header(), "model.ckpt", "test-version"), false);
        Path file = dir.resolve(OnnxExporter.FILE);
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), "test");
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));
        int[] prompt = tok.encode("the old man walked to");

        // Python: the onnx checker (full) and onnxruntime, a batch of two sequences.
        JsonNode py = TinyModels.python("onnx_check.py", file, TinyModels.ids(prompt));
        assertEquals(OnnxExporter.OPSET, py.get("opset").asInt());
        assertEquals("run-123", py.get("metadata").get("distillery.run_id").asText());
        assertEquals(ck.header().tokenizer().sha256(), py.get("metadata").get("distillery.tokenizer_sha256").asText());
        int[] reversed = new int[prompt.length];
        for (int i = 0; i < prompt.length; i++) {
            reversed[i] = prompt[prompt.length - 1 - i];
        }
        int[][] batch = {prompt, reversed};
        for (int b = 0; b < 2; b++) {
            INDArray mine = gpt.logits(batch[b], 1, prompt.length);
            double maxDiff = 0;
            for (int t = 0; t < prompt.length; t++) {
                JsonNode row = py.get("logits").get(b).get(t);
                for (int v = 0; v < row.size(); v++) {
                    maxDiff = Math.max(maxDiff, Math.abs(mine.getDouble(t, v) - row.get(v).asDouble()));
                }
            }
            assertTrue(maxDiff < 1e-4, "onnxruntime (Python), sequence " + b + ": max |logit difference| " + maxDiff);
        }

        // Java: ONNX Runtime's own API, greedy generation token for token against Distillery's.
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(file.toString(), new OrtSession.SessionOptions())) {
            int eot = tok.idOf("<|endoftext|>");
            int[] seq = prompt.clone();
            for (int step = 0; step < 10; step++) {
                long[][] input = {Arrays.stream(seq).asLongStream().toArray()};
                try (OnnxTensor in = OnnxTensor.createTensor(env, input);
                     OrtSession.Result r = session.run(Map.of("input_ids", in))) {
                    float[][][] logits = (float[][][]) r.get(0).getValue();
                    float[] last = logits[0][seq.length - 1];
                    int next = 0;
                    for (int v = 1; v < last.length; v++) {
                        if (last[v] > last[next]) {
                            next = v;
                        }
                    }
                    seq = Arrays.copyOf(seq, seq.length + 1);
                    seq[seq.length - 1] = next;
                    if (next == eot) {
                        break;
                    }
                }
            }
            int[] mine = new Generator(gpt).generate(prompt, 10, new Sampler(0, 0, 1.0, 0), eot);
            assertArrayEquals(mine, seq, "greedy generation with ONNX Runtime (Java) agrees token for token");
        }
    }
}
