package org.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.distillery.core.io.Sha256;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.BpeTrainer;
import org.distillery.core.tokenizer.ByteLevel;
import org.distillery.core.tokenizer.Gpt2PreTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.AdamW;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A tiny trained GPT-2 with a real BPE tokenizer, as a checkpoint; and the Python consumers' runner. */
final class TinyModels {
    static final String TEXT = "the cat sat on the mat. a dog walked to the river. her sister found the station. ";

    private TinyModels() {
    }

    static BpeTokenizer tokenizer() {
        Map<String, Long> words = new HashMap<>();
        for (String piece : Gpt2PreTokenizer.pieces(TEXT.repeat(3))) {
            words.merge(ByteLevel.encode(piece), 1L, Long::sum);
        }
        return new BpeTrainer(300, 1, List.of("<|endoftext|>")).train(words);
    }

    /** A 2-layer GPT-2 trained 30 steps on the tokenized text, so its weights are no initialisation. */
    static Checkpoint trained(long seed) {
        return trained(seed, null);
    }

    /** A 2-layer model of the Llama family ({@code llama}; null: GPT-2), trained as {@link #trained(long)}. */
    static Checkpoint trained(long seed, GptConfig.Llama llama) {
        return trained(seed, llama, 32);
    }

    /** As {@link #trained(long, GptConfig.Llama)}, {@code width} wide. */
    static Checkpoint trained(long seed, GptConfig.Llama llama, int width) {
        BpeTokenizer tok = tokenizer();
        GptConfig config = new GptConfig(2, llama == null ? 2 : 4, width, 24, tok.vocabSize(), 0.0, llama);
        GptParameters params = GptParameters.initialize(config, seed);
        GptParameters grads = GptParameters.zeros(config);
        Gpt gpt = new Gpt(params);
        AdamW adam = new AdamW(params, 0.9, 0.95, 1e-8, 0.1);
        int[] ids = tok.encode(TEXT.repeat(20));
        SplittableRandom r = new SplittableRandom(seed);
        int batch = 4;
        int time = config.blockSize();
        for (int step = 0; step < 30; step++) {
            int[] in = new int[batch * time];
            int[] out = new int[batch * time];
            for (int b = 0; b < batch; b++) {
                int start = r.nextInt(ids.length - time - 1);
                System.arraycopy(ids, start, in, b * time, time);
                System.arraycopy(ids, start + 1, out, b * time, time);
            }
            gpt.lossAndGradient(new Gpt.Batch(in, out, batch, time), grads, 1.0, step);
            adam.step(params.flat(), grads.flat(), 3e-3, 1.0);
        }
        String json = HfTokenizerJson.toJson(tok);
        Checkpoint.Header h = Checkpoint.Header.of("test", config, new Checkpoint.Tokenizer(Sha256.of(json),
                        tok.vocabSize(), json))
                .atStep(30, 30L * batch * time).withData(new Checkpoint.Data("ab".repeat(32), "/data"))
                .withMetrics(Map.of("train/loss", 1.0)).withRunId("run-123");
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, params.flat());
        return new Checkpoint(h, sections);
    }

    static JsonNode python(String script, Object... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(RepoFixtures.python(),
                RepoFixtures.root().resolve("training-jobs/export/src/test/resources/peers/" + script).toString()));
        for (Object a : args) {
            cmd.add(String.valueOf(a));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("HF_HUB_OFFLINE", "1");
        pb.environment().put("TRANSFORMERS_VERBOSITY", "error");
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (p.waitFor() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed:\n" + new String(err, StandardCharsets.UTF_8));
        }
        String text = new String(out, StandardCharsets.UTF_8).trim();
        return new ObjectMapper().readTree(text.substring(text.lastIndexOf('\n') + 1));
    }

    static String ids(int[] ids) {
        StringBuilder s = new StringBuilder();
        for (int i : ids) {
            s.append(s.length() == 0 ? "" : ",").append(i);
        }
        return s.toString();
    }
}
