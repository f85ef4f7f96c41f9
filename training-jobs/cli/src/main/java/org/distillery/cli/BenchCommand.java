package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Sha256;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkSessions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Benchmarks: programs that write their figures to target/bench/*.json and print a one-line summary. */
@Command(name = "bench", description = "Benchmarks (figures to target/bench/*.json).",
        subcommands = {BenchCommand.Tokenizer.class, PrepBench.class, TrainBench.class, DistillBench.class, GenerateBench.class,
            ExportBench.class})
final class BenchCommand {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @ParentCommand
    Distillery top;

    static void write(Path benchDir, String name, ObjectNode figures) throws IOException {
        Files.createDirectories(benchDir);
        AtomicFile.write(benchDir.resolve(name), JSON.writeValueAsBytes(figures));
    }

    @Command(name = "tokenizer", description = "BPE encode throughput against Hugging Face tokenizers (Python), same"
            + " vocabulary, text and thread count, in one run.")
    static final class Tokenizer implements Callable<Integer> {
        @Option(names = "--prep", required = true, description = "a prep output: its tokenizer and its training text")
        Path prepDir;

        @Option(names = "--threads", defaultValue = "1", description = "threads on both sides (default 1)")
        int threads;

        @Option(names = "--repeat", defaultValue = "5", description = "timed passes over the text (default 5)")
        int repeat;

        @Option(names = "--python", description = "Python with tokenizers installed (default: $DISTILLERY_PYTHON,"
                + " .venv/bin/python, python3)")
        String python;

        @Option(names = "--bench-dir", defaultValue = "target/bench")
        Path benchDir;

        @Override
        public Integer call() throws Exception {
            ShardManifest m = ShardManifest.read(prepDir);
            Path tokFile = prepDir.resolve(m.tokenizer().file());
            BpeTokenizer tok = HfTokenizerJson.read(tokFile);
            List<String> docs = decodeDocuments(prepDir, m, tok);
            long bytes = docs.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();

            // Java: warm up twice (JIT and the piece cache, as tokenizers' own cache), then time.
            String javaHash = null;
            for (int i = 0; i < 2; i++) {
                javaHash = encodeAll(tok, docs, threads).hash;
            }
            long t0 = System.nanoTime();
            Encoded enc = null;
            for (int i = 0; i < repeat; i++) {
                enc = encodeAll(tok, docs, threads);
            }
            double javaSeconds = (System.nanoTime() - t0) / 1e9;

            Path docsJson = Files.createTempFile("bench-docs", ".json");
            Path script = Files.createTempFile("hf_tokenizers_bench", ".py");
            try {
                JSON.writeValue(docsJson.toFile(), docs);
                try (InputStream in = BenchCommand.class.getResourceAsStream("hf_tokenizers_bench.py")) {
                    Files.write(script, in.readAllBytes());
                }
                JsonNode peer = runPeer(script, tokFile, docsJson);
                double peerSeconds = peer.get("seconds").asDouble();
                double mb = bytes * (double) repeat / 1e6;
                ObjectNode f = JSON.createObjectNode();
                f.put("benchmark", "bpe-encode");
                f.put("threads", threads);
                f.put("documents", docs.size());
                f.put("text_bytes", bytes);
                f.put("tokens_per_pass", enc.tokens);
                f.put("passes", repeat);
                f.put("vocab_size", tok.vocabSize());
                f.put("distillery_mb_per_s", mb / javaSeconds);
                f.put("distillery_tokens_per_s", enc.tokens * (double) repeat / javaSeconds);
                f.put("hf_tokenizers_mb_per_s", mb / peerSeconds);
                f.put("hf_tokenizers_tokens_per_s", peer.get("tokens_per_pass").asLong() * (double) repeat / peerSeconds);
                f.put("ratio_distillery_over_hf", peerSeconds / javaSeconds);
                f.put("ids_identical", enc.hash.equals(peer.get("ids_sha256").asText()) && enc.hash.equals(javaHash));
                write(benchDir, "tokenizer.json", f);
                System.out.printf("bench tokenizer: distillery %.1f MB/s, hf tokenizers %.1f MB/s, ratio %.2fx"
                        + " (threads %d, %d docs, %.1f MB, ids identical: %s)%n",
                        f.get("distillery_mb_per_s").asDouble(), f.get("hf_tokenizers_mb_per_s").asDouble(),
                        f.get("ratio_distillery_over_hf").asDouble(), threads, docs.size(), bytes / 1e6,
                        f.get("ids_identical").asBoolean());
                return f.get("ids_identical").asBoolean() ? 0 : 1;
            } finally {
                Files.deleteIfExists(docsJson);
                Files.deleteIfExists(script);
            }
        }

        private JsonNode runPeer(Path script, Path tokFile, Path docsJson) throws IOException, InterruptedException {
            ProcessBuilder pb = new ProcessBuilder(pythonCommand(python), script.toString(), tokFile.toString(),
                    docsJson.toString(), String.valueOf(repeat));
            pb.environment().put("RAYON_NUM_THREADS", String.valueOf(threads));
            pb.environment().put("TOKENIZERS_PARALLELISM", "true");
            return BenchCommand.runPeer(pb, "Hugging Face tokenizers", "tokenizers", "bin/setup-python");
        }
    }

    /**
     * Runs a Python peer (its stderr passes through) and returns the JSON of its last stdout line;
     * a failure names the package the peer needs and the command that installs it.
     */
    static JsonNode runPeer(ProcessBuilder pb, String peer, String module, String setup)
            throws IOException, InterruptedException {
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new DistilleryException("cannot run the " + peer + " peer with " + pb.command().get(0) + " ("
                    + e.getMessage() + "); give --python, or run " + setup);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new DistilleryException("the " + peer + " peer failed (exit " + p.exitValue() + "); is " + module
                    + " installed for " + pb.command().get(0) + "? (" + setup + ")");
        }
        return JSON.readTree(out.lines().reduce((a, b) -> b).orElse("{}"));
    }

    /** The Python that has the peers: the option, $DISTILLERY_PYTHON, the checkout's .venv, or python3. */
    static String pythonCommand(String option) {
        if (option != null) {
            return option;
        }
        String env = System.getenv("DISTILLERY_PYTHON");
        if (env != null && !env.isBlank()) {
            return env;
        }
        String home = System.getProperty("distillery.home");
        if (home != null && Files.isExecutable(Path.of(home, ".venv/bin/python"))) {
            return Path.of(home, ".venv/bin/python").toString();
        }
        return "python3";
    }

    /** The training split's documents, decoded from the shards (documents end at end-of-text). */
    static List<String> decodeDocuments(Path dir, ShardManifest m, BpeTokenizer tok) throws IOException {
        List<String> docs = new ArrayList<>();
        for (TokenShardWriter.Summary s : m.splits().get("train").shards()) {
            try (TokenShardReader r = TokenShardReader.open(dir.resolve(s.file()))) {
                int[] all = new int[(int) r.tokens()];
                r.read(0, all);
                int start = 0;
                for (int i = 0; i < all.length; i++) {
                    if (all[i] == m.eotId()) {
                        docs.add(tok.decode(java.util.Arrays.copyOfRange(all, start, i)));
                        start = i + 1;
                    }
                }
            }
        }
        return docs;
    }

    private record Encoded(long tokens, String hash) {
    }

    private static Encoded encodeAll(BpeTokenizer tok, List<String> docs, int threads) throws Exception {
        int[][] ids = new int[docs.size()][];
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> fs = new ArrayList<>();
            int chunk = (docs.size() + threads - 1) / threads;
            for (int t = 0; t < threads; t++) {
                int from = t * chunk;
                int to = Math.min(docs.size(), from + chunk);
                fs.add(pool.submit(() -> {
                    for (int i = from; i < to; i++) {
                        ids[i] = tok.encode(docs.get(i));
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        java.security.MessageDigest md = Sha256.newDigest();
        long tokens = 0;
        StringBuilder line = new StringBuilder();
        for (int[] d : ids) {
            tokens += d.length;
            line.setLength(0);
            for (int i = 0; i < d.length; i++) {
                if (i > 0) {
                    line.append(' ');
                }
                line.append(d[i]);
            }
            line.append('\n');
            md.update(line.toString().getBytes(StandardCharsets.UTF_8));
        }
        return new Encoded(tokens, Sha256.hex(md.digest()));
    }
}
