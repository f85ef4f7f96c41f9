package org.distillery.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Sha256;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.ByteLevel;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.export.ExportFormat;
import org.distillery.export.ExportProvenance;
import org.distillery.export.ExportDtype;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.nd4j.linalg.api.ndarray.INDArray;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Export write throughput against a plain copy of the same bytes on the same disk, in one run: each
 * format writes a GPT-2-small-sized random model, then the written files are copied (with the same
 * fsync) and the two speeds compared. The q8_0, q4_0 and q6_k GGUF cases are also timed against llama.cpp's own
 * quantizer turning the model's f32 GGUF into the same type, with the same threads: both clocks start from a file
 * on the same disk (Distillery's from the model's checkpoint, llama.cpp's from the f32 GGUF) and end with the
 * quantized file written.
 */
@Command(name = "export", description = "Export write throughput (MB/s) against a plain copy of the same bytes on the"
        + " same disk, per format and dtype.")
final class ExportBench implements Callable<Integer> {
    @Option(names = "--layers", defaultValue = "12")
    int layers;

    @Option(names = "--embd", defaultValue = "768")
    int embd;

    @Option(names = "--vocab", defaultValue = "50257")
    int vocab;

    @Option(names = "--block", defaultValue = "1024")
    int block;

    @Option(names = "--repeat", defaultValue = "3", description = "timed runs per case; the best is kept")
    int repeat;

    @Option(names = "--dir", description = "scratch folder on the disk to measure (default: target/bench/export-scratch)")
    Path scratch;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    @Override
    public Integer call() throws Exception {
        GptConfig c = new GptConfig(layers, Math.max(1, embd / 64), embd, block, vocab, 0.0);
        Checkpoint ck = randomCheckpoint(c);
        Path dir = scratch != null ? scratch : benchDir.resolve("export-scratch");
        Files.createDirectories(dir);
        ExportProvenance p = ExportProvenance.of(ck.header(), "bench", Distillery.version());
        ObjectNode figures = BenchCommand.JSON.createObjectNode();
        figures.put("benchmark", "export");
        figures.put("parameters", c.parameterCount());
        figures.put("repeat", repeat);
        ArrayNode cases = figures.putArray("cases");
        StringBuilder summary = new StringBuilder("bench export:");
        Map<String, Object[]> plan = new LinkedHashMap<>();
        plan.put("hf fp32", new Object[] {ExportFormat.HF, ExportDtype.FP32});
        plan.put("hf bf16", new Object[] {ExportFormat.HF, ExportDtype.BF16});
        plan.put("onnx fp32", new Object[] {ExportFormat.ONNX, ExportDtype.FP32});
        plan.put("gguf f16", new Object[] {ExportFormat.GGUF, ExportDtype.FP16});
        plan.put("gguf q8_0", new Object[] {ExportFormat.GGUF, ExportDtype.Q8_0});
        plan.put("gguf q4_0", new Object[] {ExportFormat.GGUF, ExportDtype.Q4_0});
        plan.put("gguf q6_k", new Object[] {ExportFormat.GGUF, ExportDtype.Q6_K});
        // llama.cpp's quantizer starts from the f32 GGUF of the same model, written once; against it Distillery
        // starts from the model's checkpoint on the same disk, so both clocks include reading their input
        Path f32 = dir.resolve("gguf-f32");
        ExportFormat.GGUF.write(ck, f32, ExportDtype.FP32, p, true);
        Path ckFile = dir.resolve("model.ckpt");
        ck.write(ckFile);
        double worst = Double.MAX_VALUE;
        double worstPeer = Double.MAX_VALUE;
        for (Map.Entry<String, Object[]> e : plan.entrySet()) {
            ExportFormat f = (ExportFormat) e.getValue()[0];
            ExportDtype t = (ExportDtype) e.getValue()[1];
            double bestExport = Double.MAX_VALUE;
            double bestCopy = Double.MAX_VALUE;
            long bytes = 0;
            for (int i = 0; i < repeat; i++) {
                Path out = dir.resolve(f.name().toLowerCase(Locale.ROOT));
                long t0 = System.nanoTime();
                f.write(ck, out, t, p, true);
                double exportS = (System.nanoTime() - t0) / 1e9;
                bytes = size(out);
                Path copy = dir.resolve("copy");
                long t1 = System.nanoTime();
                copyTree(out, copy);
                double copyS = (System.nanoTime() - t1) / 1e9;
                bestExport = Math.min(bestExport, exportS);
                bestCopy = Math.min(bestCopy, copyS);
                Directories.deleteRecursively(copy);
                Directories.deleteRecursively(out);
            }
            double exportMBs = bytes / 1e6 / bestExport;
            double copyMBs = bytes / 1e6 / bestCopy;
            double ratio = exportMBs / copyMBs;
            worst = Math.min(worst, ratio);
            ObjectNode n = cases.addObject();
            n.put("case", e.getKey()).put("bytes", bytes).put("export_s", bestExport).put("copy_s", bestCopy)
                    .put("export_mb_per_s", exportMBs).put("copy_mb_per_s", copyMBs).put("ratio", ratio);
            summary.append(String.format(" %s %.0f MB/s (copy %.0f MB/s, %.2fx", e.getKey(), exportMBs, copyMBs, ratio));
            if (t.blocks() != null) { // the same quantization by llama.cpp's own quantizer
                double fromDisk = Double.MAX_VALUE;
                for (int i = 0; i < repeat; i++) {
                    Path out = dir.resolve("from-checkpoint");
                    long t0 = System.nanoTime();
                    f.write(Checkpoint.read(ckFile), out, t, p, true);
                    fromDisk = Math.min(fromDisk, (System.nanoTime() - t0) / 1e9);
                    Directories.deleteRecursively(out);
                }
                com.fasterxml.jackson.databind.JsonNode peer = quantizePeer(f32.resolve("model.gguf"),
                        dir.resolve("llama-cpp.gguf"), t);
                double peerMBs = peer.get("bytes").asLong() / 1e6 / peer.get("best_s").asDouble();
                double peerRatio = peer.get("best_s").asDouble() / fromDisk;
                n.put("export_from_checkpoint_s", fromDisk);
                worstPeer = Math.min(worstPeer, peerRatio);
                n.put("llama_cpp_quantize_s", peer.get("best_s").asDouble()).put("llama_cpp_mb_per_s", peerMBs)
                        .put("ratio_over_llama_cpp", peerRatio).put("llama_cpp_python", peer.get("llama_cpp").asText());
                summary.append(String.format("; llama.cpp's quantizer %.0f MB/s, %.2fx", peerMBs, peerRatio));
            }
            summary.append(");");
        }
        Directories.deleteRecursively(f32);
        figures.put("worst_ratio", worst);
        figures.put("worst_ratio_over_llama_cpp", worstPeer);
        BenchCommand.write(benchDir, "export.json", figures);
        System.out.printf("%s %,d parameters, worst ratio %.2fx to the copy, %.2fx to llama.cpp's quantizer%n", summary,
                c.parameterCount(), worst, worstPeer);
        Directories.deleteRecursively(dir);
        return 0;
    }

    @Option(names = "--python", description = "Python with llama-cpp-python (default: $DISTILLERY_PYTHON, .venv/bin/python,"
            + " python3; bin/setup-python installs it)")
    String python;

    /** llama.cpp's quantizer on {@code f32} into {@code out} with this machine's threads, best of --repeat. */
    private com.fasterxml.jackson.databind.JsonNode quantizePeer(Path f32, Path out, ExportDtype t) throws Exception {
        Path script = Files.createTempFile("llamacpp_quantize_bench", ".py");
        try (java.io.InputStream in = BenchCommand.class.getResourceAsStream("llamacpp_quantize_bench.py")) {
            Files.write(script, in.readAllBytes());
            ProcessBuilder pb = new ProcessBuilder(BenchCommand.pythonCommand(python), script.toString(), f32.toString(),
                    out.toString(), t.optionName(), String.valueOf(Runtime.getRuntime().availableProcessors()),
                    String.valueOf(repeat));
            return BenchCommand.runPeer(pb, "llama.cpp quantizer", "llama_cpp", "bin/setup-python");
        } finally {
            Files.deleteIfExists(script);
            Files.deleteIfExists(out);
        }
    }

    /** A random model of the given shape with a byte-level tokenizer padded to its vocabulary. */
    static Checkpoint randomCheckpoint(GptConfig c) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        vocab.put("<|endoftext|>", 0);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), vocab.size());
        }
        BpeTokenizer tok = new BpeTokenizer(vocab, java.util.List.of(), java.util.List.of("<|endoftext|>"));
        String json = HfTokenizerJson.toJson(tok);
        GptParameters params = GptParameters.initialize(c, 1);
        Checkpoint.Header h = Checkpoint.Header.of(Distillery.version(), c,
                new Checkpoint.Tokenizer(Sha256.of(json), tok.vocabSize(), json));
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, params.flat());
        return new Checkpoint(h, sections);
    }

    private static long size(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    /**
     * A plain copy, each file written through the same temp-file, fsync and rename as an export, its
     * bytes moved by the kernel (FileChannel.transferTo: sendfile), the fastest copy Java has.
     */
    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : s.toList()) {
                AtomicFile.writeChannel(to.resolve(f.getFileName()), out -> {
                    try (FileChannel in = FileChannel.open(f, StandardOpenOption.READ)) {
                        for (long done = 0, size = in.size(); done < size; ) {
                            done += in.transferTo(done, size - done, out);
                        }
                    }
                });
            }
        }
    }
}
