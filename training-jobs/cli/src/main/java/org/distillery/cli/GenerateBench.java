package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.export.ExportFormat;
import org.distillery.export.ExportProvenance;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.Sampler;
import org.distillery.model.distill.Rollout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Greedy decoding throughput, in one run on the same model and prompts: Distillery's KV-cache decoder,
 * the full pass over the whole prefix per token (what decoding cost before the cache), and Hugging
 * Face transformers' {@code generate} (KV cache on) reading Distillery's own hf export of the model.
 * The tokens are compared too: three implementations of one greedy decode should agree.
 */
@Command(name = "generate", description = "Greedy decoding tokens/s: KV-cache decoder, full pass per token, and"
        + " transformers' generate on the hf export of the same model, same prompts and threads.")
final class GenerateBench implements Callable<Integer> {
    @Option(names = "--layers", defaultValue = "4")
    int layers;

    @Option(names = "--vocab", defaultValue = "8192")
    int vocab;

    @Option(names = "--prompt", defaultValue = "8", description = "prompt tokens per sequence; the rest"
            + " of the block is generated")
    int prompt;

    @Option(names = "--warmup", defaultValue = "6", description = "untimed decodes per side, for the JIT")
    int warmup;

    @Option(names = "--repeat", defaultValue = "7", description = "timed decodes per side; the median is kept")
    int repeat;

    @Mixin
    GptBenchOptions gpt;

    @Override
    public Integer call() throws Exception {
        if (prompt < 1 || prompt >= gpt.block) {
            throw new DistilleryException("--prompt " + prompt + " must be between 1 and --block - 1 (" + (gpt.block - 1) + ")");
        }
        int batch = gpt.batch;
        int fresh = gpt.block - prompt;
        GptConfig config = new GptConfig(layers, gpt.heads, gpt.embd, gpt.block, vocab, 0.0);
        Checkpoint ck = ExportBench.randomCheckpoint(config);
        // GPT-2's init gives nearly flat logits, where greedy picks are near-ties that float sums decide;
        // wider weights make each pick clear, so the three implementations can be held to the same tokens.
        INDArray flat = ck.sections().get(Checkpoint.PARAMS);
        flat.addi(Nd4j.randn(Nd4j.getRandomFactory().getNewRandomInstance(gpt.seed), flat.length())
                .castTo(DataType.FLOAT).reshape(flat.shape()).muli(0.1));
        Gpt model = new Gpt(GptParameters.wrap(config, flat));
        int[][] prompts = new int[batch][prompt];
        SplittableRandom r = new SplittableRandom(gpt.seed);
        for (int[] p : prompts) {
            Arrays.setAll(p, i -> 1 + r.nextInt(vocab - 1));
        }

        Timed cached = time(() -> decodeCached(model, prompts, fresh));
        Timed full = time(() -> decodeFull(model, prompts, fresh));
        JsonNode peer = runPeer(ck, prompts, fresh);

        double newTokens = (double) batch * fresh;
        double peerSeconds = peer.get("seconds").asDouble();
        double cachedMatch = agreement(cached.tokens, full.tokens);
        int[][] hf = new int[batch][];
        for (int b = 0; b < batch; b++) {
            hf[b] = BenchCommand.JSON.convertValue(peer.get("tokens").get(b), int[].class);
        }
        double hfMatch = agreement(cached.tokens, hf);
        ObjectNode f = BenchCommand.JSON.createObjectNode();
        f.put("benchmark", "generate");
        f.putObject("model").put("n_layer", layers).put("n_head", gpt.heads).put("n_embd", gpt.embd)
                .put("block_size", gpt.block).put("vocab_size", vocab);
        f.put("parameters", config.parameterCount());
        f.put("batch", batch).put("prompt_tokens", prompt).put("new_tokens", fresh);
        f.put("threads", Runtime.getRuntime().availableProcessors());
        f.put("kernels", model.engine());
        f.put("kv_cache_tokens_per_s", newTokens / cached.seconds);
        f.put("full_pass_tokens_per_s", newTokens / full.seconds);
        f.put("kv_cache_speedup", full.seconds / cached.seconds);
        ObjectNode t = f.putObject("transformers");
        t.put("torch_version", peer.get("torch_version").asText());
        t.put("transformers_version", peer.get("transformers_version").asText());
        t.put("tokens_per_s", newTokens / peerSeconds);
        f.put("ratio_distillery_over_transformers", peerSeconds / cached.seconds);
        f.put("tokens_agree_kv_cache_vs_full_pass", cachedMatch);
        f.put("tokens_agree_distillery_vs_transformers", hfMatch);
        BenchCommand.write(gpt.benchDir, "generate.json", f);
        System.out.printf("bench generate: distillery KV cache %.0f tokens/s, full pass per token %.0f tokens/s"
                        + " (cache %.2fx); transformers %s generate %.0f tokens/s, ratio %.2fx (%d x %d new tokens after"
                        + " %d, %,d parameters, %d threads; tokens agree: cache vs full %.0f%%, vs transformers %.0f%%)%n",
                newTokens / cached.seconds, newTokens / full.seconds, full.seconds / cached.seconds,
                peer.get("transformers_version").asText(), newTokens / peerSeconds, peerSeconds / cached.seconds,
                batch, fresh, prompt, config.parameterCount(), f.get("threads").asInt(), 100 * cachedMatch,
                100 * hfMatch);
        return 0;
    }

    /**
     * The sequences' new tokens through the KV-cache decoder, as the on-policy rollout runs it: windows of
     * {@code prompt + fresh - 1} inputs whose first tokens are the prompts; the sampled tokens are the
     * rows' targets from the prompt's last position on.
     */
    private static int[][] decodeCached(Gpt model, int[][] prompts, int fresh) {
        int batch = prompts.length;
        int prompt = prompts[0].length;
        int time = prompt + fresh - 1;
        int[] inputs = new int[batch * time];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(prompts[b], 0, inputs, b * time, prompt);
        }
        Gpt.Batch rolled = Rollout.sample(model, new Gpt.Batch(inputs, null, batch, time), prompt, new Sampler(0, 0, 1, 0));
        int[][] out = new int[batch][];
        for (int b = 0; b < batch; b++) {
            out[b] = Arrays.copyOfRange(rolled.targets(), b * time + prompt - 1, (b + 1) * time);
        }
        return out;
    }

    /** The same decode with the whole prefix run again for every token. */
    private static int[][] decodeFull(Gpt model, int[][] prompts, int fresh) {
        int batch = prompts.length;
        int prompt = prompts[0].length;
        int[][] seq = new int[batch][];
        for (int b = 0; b < batch; b++) {
            seq[b] = Arrays.copyOf(prompts[b], prompt + fresh);
        }
        INDArray logits = Nd4j.createUninitializedDetached(DataType.FLOAT, batch, model.config().vocabSize());
        Sampler greedy = new Sampler(0, 0, 1, 0);
        for (int len = prompt; len < prompt + fresh; len++) {
            int[] window = new int[batch * len];
            for (int b = 0; b < batch; b++) {
                System.arraycopy(seq[b], 0, window, b * len, len);
            }
            model.lastLogits(window, batch, len, logits);
            int[] next = greedy.next(logits);
            for (int b = 0; b < batch; b++) {
                seq[b][len] = next[b];
            }
        }
        int[][] out = new int[batch][];
        for (int b = 0; b < batch; b++) {
            out[b] = Arrays.copyOfRange(seq[b], prompt, prompt + fresh);
        }
        return out;
    }

    private record Timed(double seconds, int[][] tokens) {
    }

    private Timed time(java.util.function.Supplier<int[][]> decode) {
        int[][] tokens = null;
        for (int i = 0; i < warmup; i++) {
            tokens = decode.get();
        }
        double[] seconds = new double[repeat];
        for (int i = 0; i < repeat; i++) {
            long t0 = System.nanoTime();
            tokens = decode.get();
            seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        Arrays.sort(seconds);
        return new Timed(seconds[repeat / 2], tokens);
    }

    /** The share of new tokens two decodes agree on, each sequence up to its first difference (after it, prefixes differ). */
    private static double agreement(int[][] a, int[][] b) {
        long same = 0;
        long all = 0;
        for (int s = 0; s < a.length; s++) {
            int i = 0;
            while (i < a[s].length && i < b[s].length && a[s][i] == b[s][i]) {
                i++;
            }
            same += i;
            all += a[s].length;
        }
        return (double) same / all;
    }

    private JsonNode runPeer(Checkpoint ck, int[][] prompts, int fresh) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("bench-generate");
        try {
            Path hf = dir.resolve("hf");
            ExportFormat.HF.write(ck, hf, org.distillery.export.ExportDtype.FP32,
                    ExportProvenance.of(ck.header(), "bench", Distillery.version()), true);
            Path promptsFile = dir.resolve("prompts.json");
            BenchCommand.JSON.writeValue(promptsFile.toFile(), prompts);
            Path configFile = dir.resolve("config.json");
            BenchCommand.JSON.writeValue(configFile.toFile(), BenchCommand.JSON.createObjectNode()
                    .put("new_tokens", fresh).put("warmup", warmup).put("repeat", repeat)
                    .put("threads", Runtime.getRuntime().availableProcessors()));
            Path script = dir.resolve("hf_generate_bench.py");
            try (InputStream in = BenchCommand.class.getResourceAsStream("hf_generate_bench.py")) {
                Files.write(script, in.readAllBytes());
            }
            ProcessBuilder pb = new ProcessBuilder(BenchCommand.pythonCommand(gpt.python), script.toString(),
                    hf.toString(), promptsFile.toString(), configFile.toString());
            UserEnvironment.of(pb); // as in the training peer: torch as a researcher runs it
            return BenchCommand.runPeer(pb, "transformers", "transformers and torch", "bin/setup-python --torch");
        } finally {
            Directories.deleteRecursively(dir);
        }
    }
}
