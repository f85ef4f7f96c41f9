package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.model.AdamW;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.train.TokenWindows;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Training throughput against PyTorch on the CPU: the same GPT-2, the same AdamW with clipping, the
 * same token windows (written to a file the peer reads) and the same thread count, in one run.
 */
@Command(name = "train", description = "Training steps/s against PyTorch (CPU), same model, batches and threads.")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--prep", required = true, description = "a prep output: its train shards and vocabulary")
    Path prepDir;

    @Option(names = "--steps", defaultValue = "150", description = "steps in all")
    int steps;

    @Option(names = "--warmup", defaultValue = "30",
            description = "untimed first steps, for both sides (the JIT compiles the JVM side's kernels over the first 20-30 steps)")
    int warmup;

    @Option(names = "--layers", defaultValue = "4")
    int layers;

    @Mixin
    GptBenchOptions gpt;

    @Override
    public Integer call() throws Exception {
        if (warmup >= steps) {
            throw new DistilleryException("--warmup (" + warmup + ") must be below --steps (" + steps + ")");
        }
        ShardManifest manifest = ShardManifest.read(prepDir);
        int block = gpt.block;
        int batch = gpt.batch;
        GptConfig config = new GptConfig(layers, gpt.heads, gpt.embd, block, manifest.tokenizer().vocabSize(), 0.0);
        int threads = Runtime.getRuntime().availableProcessors();
        Gpt.Batch[] batches = new Gpt.Batch[steps];
        try (TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
            for (int s = 0; s < steps; s++) {
                batches[s] = train.randomBatch(gpt.seed, s, 0, batch, block);
            }
        }
        ObjectNode c = gpt.peerConfig(layers, config.vocabSize(), steps, warmup);
        Side mine = runDistillery(config, batches);
        JsonNode peer = gpt.runPeer(batches, c);

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
        d.put("peak_rss_mb", GptBenchOptions.peakRssMb());
        d.put("first_loss", mine.firstLoss);
        d.put("last_loss", mine.lastLoss);
        ObjectNode t = f.putObject("pytorch");
        peer.fields().forEachRemaining(e -> t.set(e.getKey(), e.getValue()));
        double ratio = peer.get("ms_per_step").asDouble() / mine.msPerStep;
        f.put("ratio_distillery_over_pytorch", ratio);
        BenchCommand.write(gpt.benchDir, "train.json", f);
        System.out.printf("bench train: distillery %.1f ms/step (%.0f tokens/s, %.0f MB peak RSS, %s),"
                        + " pytorch %s %.1f ms/step (%.0f tokens/s, %.0f MB), ratio %.2fx"
                        + " (%d threads, %d timed steps, loss %.3f -> %.3f vs %.3f -> %.3f)%n",
                mine.msPerStep, d.get("tokens_per_s").asDouble(), d.get("peak_rss_mb").asDouble(), mine.engine,
                peer.get("torch_version").asText(), peer.get("ms_per_step").asDouble(),
                peer.get("tokens_per_s").asDouble(), peer.get("peak_rss_mb").asDouble(), ratio, threads,
                steps - warmup, mine.firstLoss, mine.lastLoss, peer.get("first_loss").asDouble(),
                peer.get("last_loss").asDouble());
        return 0;
    }

    private record Side(double msPerStep, double firstLoss, double lastLoss, String engine) {
    }

    /** The training step of TrainJob, without checkpoints or tracking: forward+backward, then AdamW with clipping. */
    private Side runDistillery(GptConfig config, Gpt.Batch[] batches) {
        GptParameters params = GptParameters.initialize(config, gpt.seed);
        GptParameters grads = GptParameters.zeros(config);
        Gpt model = new Gpt(params);
        AdamW adam = new AdamW(params, GptBenchOptions.BETA1, GptBenchOptions.BETA2, GptBenchOptions.EPS,
                GptBenchOptions.WEIGHT_DECAY);
        double first = Double.NaN;
        double last = Double.NaN;
        long started = 0;
        for (int s = 0; s < steps; s++) {
            if (s == warmup) {
                started = System.nanoTime();
            }
            last = model.lossAndGradient(batches[s], grads, 1.0, s);
            // leaves grads zero for the next step
            adam.step(params.flat(), grads.flat(), GptBenchOptions.LR, GptBenchOptions.CLIP);
            if (s == 0) {
                first = last;
            }
        }
        double ms = (System.nanoTime() - started) / 1e6 / (steps - warmup);
        return new Side(ms, first, last, model.engine());
    }
}
