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
import org.distillery.model.Gpt;
import picocli.CommandLine.Option;

/**
 * What the GPT benchmarks share (a picocli mixin): the model's width, the batches, the seed,
 * the optimizer both sides use, and the PyTorch peer ({@code torch_train_bench.py}) run on the very
 * windows Distillery trained on.
 */
final class GptBenchOptions {
    static final double LR = 1e-3;
    static final double BETA1 = 0.9;
    static final double BETA2 = 0.95;
    static final double EPS = 1e-8;
    static final double WEIGHT_DECAY = 0.1;
    static final double CLIP = 1.0;

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

    /** The peer's config for a student of {@code layers} blocks: shape, batches, timing and optimizer. */
    ObjectNode peerConfig(int layers, int vocab, int steps, int warmup) {
        ObjectNode c = BenchCommand.JSON.createObjectNode();
        c.put("n_layer", layers).put("n_head", heads).put("n_embd", embd).put("block_size", block)
                .put("vocab_size", vocab).put("batch_size", batch).put("steps", steps).put("warmup", warmup)
                .put("threads", Runtime.getRuntime().availableProcessors()).put("seed", seed).put("lr", LR)
                .put("beta1", BETA1).put("beta2", BETA2).put("eps", EPS).put("weight_decay", WEIGHT_DECAY)
                .put("grad_clip", CLIP);
        return c;
    }

    /** Runs the PyTorch peer on {@code batches} with {@code config}; its one JSON line of figures. */
    JsonNode runPeer(Gpt.Batch[] batches, ObjectNode config) throws IOException, InterruptedException {
        return runPeer("torch_train_bench.py", batches, config);
    }

    /**
     * Runs the PyTorch peer {@code script} (a resource beside this class, which may import torch_train_bench) on
     * {@code batches} with {@code config}; its one JSON line of figures.
     */
    JsonNode runPeer(String script, Gpt.Batch[] batches, ObjectNode config) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("bench-peer");
        Path windows = dir.resolve("windows.bin");
        Path configFile = dir.resolve("config.json");
        try {
            writeWindows(windows, batches);
            BenchCommand.JSON.writeValue(configFile.toFile(), config);
            for (String name : java.util.List.of("torch_train_bench.py", script)) {
                try (InputStream in = BenchCommand.class.getResourceAsStream(name)) {
                    Files.write(dir.resolve(name), in.readAllBytes());
                }
            }
            ProcessBuilder pb = new ProcessBuilder(BenchCommand.pythonCommand(python), dir.resolve(script).toString(),
                    windows.toString(), configFile.toString());
            UserEnvironment.of(pb); // PyTorch as a researcher runs it, not with the OpenMP settings made for ND4J
            return BenchCommand.runPeer(pb, "PyTorch", "torch", "bin/setup-python --torch");
        } finally {
            org.distillery.core.io.Directories.deleteRecursively(dir);
        }
    }

    /** int32 [steps, batch, block + 1]: each row's inputs and its last target, in native order. */
    private void writeWindows(Path file, Gpt.Batch[] batches) throws IOException {
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
