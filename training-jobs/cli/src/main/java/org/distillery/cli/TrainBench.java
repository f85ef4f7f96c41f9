package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.model.AdamW;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.TokenWindows;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Training throughput against PyTorch on the CPU: the same GPT-2, the same AdamW with clipping, the
 * same token windows (written to a file the peer reads) and the same thread count, in one run.
 */
@Command(name = "train", description = "Training steps/s against PyTorch (CPU), same model, batches and threads.")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--prep", required = true, description = "a prep output: its train shards and vocabulary")
    Path prepDir;

    @Option(names = "--steps", defaultValue = "150", description = "steps in all (default 150)")
    int steps;

    @Option(names = "--warmup", defaultValue = "30",
            description = "untimed first steps, for both sides (default 30: the JIT compiles the JVM side's kernels over the first 20-30 steps)")
    int warmup;

    @Option(names = "--layers", defaultValue = "4")
    int layers;

    @Option(names = "--heads", defaultValue = "4")
    int heads;

    @Option(names = "--embd", defaultValue = "128")
    int embd;

    @Option(names = "--block", defaultValue = "64")
    int block;

    @Option(names = "--batch", defaultValue = "12")
    int batch;

    @Option(names = "--seed", defaultValue = "1")
    long seed;

    @Option(names = "--python", description = "Python with torch installed (default: $DISTILLERY_PYTHON,"
            + " .venv/bin/python, python3; bin/setup-python --torch installs it)")
    String python;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    private static final double LR = 1e-3;
    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.95;
    private static final double EPS = 1e-8;
    private static final double WEIGHT_DECAY = 0.1;
    private static final double CLIP = 1.0;

    @Override
    public Integer call() throws Exception {
        if (warmup >= steps) {
            throw new DistilleryException("--warmup (" + warmup + ") must be below --steps (" + steps + ")");
        }
        ShardManifest manifest = ShardManifest.read(prepDir);
        GptConfig config = new GptConfig(layers, heads, embd, block, manifest.tokenizer().vocabSize(), 0.0);
        int threads = Runtime.getRuntime().availableProcessors();
        Gpt.Batch[] batches = new Gpt.Batch[steps];
        try (TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
            for (int s = 0; s < steps; s++) {
                batches[s] = train.randomBatch(seed, s, 0, batch, block);
            }
        }
        Path windows = Files.createTempFile("bench-train", ".bin");
        Path configFile = Files.createTempFile("bench-train", ".json");
        Path script = Files.createTempFile("torch_train_bench", ".py");
        try {
            writeWindows(windows, batches, batch, block);
            ObjectNode c = BenchCommand.JSON.createObjectNode();
            c.put("n_layer", layers).put("n_head", heads).put("n_embd", embd).put("block_size", block)
                    .put("vocab_size", config.vocabSize()).put("batch_size", batch).put("steps", steps)
                    .put("warmup", warmup).put("threads", threads).put("seed", seed).put("lr", LR)
                    .put("beta1", BETA1).put("beta2", BETA2).put("eps", EPS).put("weight_decay", WEIGHT_DECAY)
                    .put("grad_clip", CLIP);
            BenchCommand.JSON.writeValue(configFile.toFile(), c);
            try (InputStream in = BenchCommand.class.getResourceAsStream("torch_train_bench.py")) {
                Files.write(script, in.readAllBytes());
            }

            Side mine = runDistillery(config, batches);
            JsonNode peer = runPeer(python, script, windows, configFile);

            double tokensPerStep = (double) batch * block;
            ObjectNode f = BenchCommand.JSON.createObjectNode();
            f.put("benchmark", "train");
            f.set("model", c.deepCopy().without(java.util.List.of("steps", "warmup", "threads", "seed")));
            f.put("parameters", config.parameterCount());
            f.put("threads", threads);
            f.put("timed_steps", steps - warmup);
            ObjectNode d = f.putObject("distillery");
            d.put("backend", Nd4j.getBackend().getClass().getSimpleName());
            d.put("kernels", mine.engine);
            d.put("ms_per_step", mine.msPerStep);
            d.put("tokens_per_s", tokensPerStep * 1000 / mine.msPerStep);
            d.put("peak_rss_mb", peakRssMb());
            d.put("first_loss", mine.firstLoss);
            d.put("last_loss", mine.lastLoss);
            ObjectNode t = f.putObject("pytorch");
            peer.fields().forEachRemaining(e -> t.set(e.getKey(), e.getValue()));
            double ratio = peer.get("ms_per_step").asDouble() / mine.msPerStep;
            f.put("ratio_distillery_over_pytorch", ratio);
            BenchCommand.write(benchDir, "train.json", f);
            System.out.printf("bench train: distillery %.1f ms/step (%.0f tokens/s, %.0f MB peak RSS, %s),"
                            + " pytorch %s %.1f ms/step (%.0f tokens/s, %.0f MB), ratio %.2fx"
                            + " (%d threads, %d timed steps, loss %.3f -> %.3f vs %.3f -> %.3f)%n",
                    mine.msPerStep, d.get("tokens_per_s").asDouble(), d.get("peak_rss_mb").asDouble(), mine.engine,
                    peer.get("torch_version").asText(), peer.get("ms_per_step").asDouble(),
                    peer.get("tokens_per_s").asDouble(), peer.get("peak_rss_mb").asDouble(), ratio, threads,
                    steps - warmup, mine.firstLoss, mine.lastLoss, peer.get("first_loss").asDouble(),
                    peer.get("last_loss").asDouble());
            return 0;
        } finally {
            Files.deleteIfExists(windows);
            Files.deleteIfExists(configFile);
            Files.deleteIfExists(script);
        }
    }

    private record Side(double msPerStep, double firstLoss, double lastLoss, String engine) {
    }

    /** The training step of TrainJob, without checkpoints or tracking: forward+backward, then AdamW with clipping. */
    private Side runDistillery(GptConfig config, Gpt.Batch[] batches) {
        GptParameters params = GptParameters.initialize(config, seed);
        GptParameters grads = GptParameters.zeros(config);
        Gpt gpt = new Gpt(params);
        AdamW adam = new AdamW(params, BETA1, BETA2, EPS, WEIGHT_DECAY);
        double first = Double.NaN;
        double last = Double.NaN;
        long started = 0;
        for (int s = 0; s < steps; s++) {
            if (s == warmup) {
                started = System.nanoTime();
            }
            last = gpt.lossAndGradient(batches[s], grads, 1.0, s);
            adam.step(params.flat(), grads.flat(), LR, CLIP); // leaves grads zero for the next step
            if (s == 0) {
                first = last;
            }
        }
        double ms = (System.nanoTime() - started) / 1e6 / (steps - warmup);
        return new Side(ms, first, last, gpt.engine());
    }

    /** int32 [steps, batch, block + 1]: each row's inputs and its last target, in native order. */
    static void writeWindows(Path file, Gpt.Batch[] batches, int batch, int block) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(batch * (block + 1) * Integer.BYTES).order(ByteOrder.nativeOrder());
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            for (Gpt.Batch b : batches) {
                buf.clear();
                for (int r = 0; r < batch; r++) {
                    for (int i = 0; i < block; i++) {
                        buf.putInt(b.inputs()[r * block + i]);
                    }
                    buf.putInt(b.targets()[r * block + block - 1]);
                }
                out.write(buf.array());
            }
        }
    }

    static JsonNode runPeer(String python, Path script, Path windows, Path configFile)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(BenchCommand.pythonCommand(python), script.toString(), windows.toString(),
                configFile.toString());
        // PyTorch as a researcher runs it: not with the OpenMP settings bin/distillery makes for ND4J
        // (a passive wait policy makes torch's OpenMP threads sleep between ops: 55 -> 90 ms a step).
        pb.environment().remove("OMP_WAIT_POLICY");
        return BenchCommand.runPeer(pb, "PyTorch", "torch", "bin/setup-python --torch");
    }

    /** This process's peak resident set (VmHWM), in MB. */
    static double peakRssMb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
            }
        }
        return Double.NaN;
    }
}
