package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.dataset.DatasetFetcher;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * BPE encode throughput against the encoders people use, on the same text (a prep output's training
 * documents), thread count, warm-up and passes, in one run: Hugging Face tokenizers with the prep's own
 * tokenizer.json, and tiktoken with GPT-2's vocabulary (built offline from encoder.json and vocab.bpe, the
 * {@code gpt2-tokenizer} dataset), which Distillery loads too. Each side times only the encoding of every
 * document per pass, with its pool of threads made beforehand; the ids are hashed after the clock stops
 * and must be identical. Distillery's piece cache holds as many pieces as tokenizers' (10,000); tiktoken
 * has none.
 */
@Command(name = "tokenizer", description = "BPE encode throughput against Hugging Face tokenizers and tiktoken"
        + " (Python), same vocabulary, text and threads, in one run.")
final class TokenizerBench implements Callable<Integer> {
    @ParentCommand
    BenchCommand parent;

    @Option(names = "--prep", required = true, description = "a prep output: its tokenizer and its training text")
    Path prepDir;

    @Option(names = "--threads", defaultValue = "1", description = "threads on every side")
    int threads;

    @Option(names = "--warmup", defaultValue = "3", description = "untimed passes first")
    int warmup;

    @Option(names = "--repeat", defaultValue = "5", description = "timed passes over the text")
    int repeat;

    @Option(names = "--python", description = "Python with tokenizers and tiktoken (default: $DISTILLERY_PYTHON,"
            + " .venv/bin/python, python3)")
    String python;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    /** One encoder's figures: seconds for the timed passes, tokens per pass, the SHA-256 of its ids. */
    record Timed(double seconds, long tokens, String idsSha256) {
        static Timed of(JsonNode n) {
            return new Timed(n.get("seconds").asDouble(), n.get("tokens_per_pass").asLong(), n.get("ids_sha256").asText());
        }
    }

    @Override
    public Integer call() throws Exception {
        ShardManifest m = ShardManifest.read(prepDir);
        Path tokFile = prepDir.resolve(m.tokenizer().file());
        BpeTokenizer own = HfTokenizerJson.read(tokFile);
        List<String> docs = BenchCommand.decodeDocuments(prepDir, m, own);
        long bytes = docs.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();
        DatasetCatalog catalog = parent.top.catalog();
        new DatasetFetcher(catalog).fetch("gpt2-tokenizer", false);
        Path gpt2Files = catalog.fetchedFiles("gpt2-tokenizer");
        BpeTokenizer gpt2 = Gpt2VocabFiles.read(gpt2Files.resolve("encoder.json"), gpt2Files.resolve("vocab.bpe"));

        ExecutorService pool = Executors.newFixedThreadPool(threads);
        Timed javaOwn;
        Timed javaGpt2;
        Timed javaGpt2NoCache;
        try {
            javaOwn = time(own, docs, pool);
            javaGpt2 = time(gpt2, docs, pool);
            javaGpt2NoCache = time(gpt2.withPieceCache(0), docs, pool);
        } finally {
            pool.shutdown();
        }

        Path docsJson = Files.createTempFile("bench-docs", ".json");
        Path script = Files.createTempFile("tokenizer_peers_bench", ".py");
        try {
            BenchCommand.JSON.writeValue(docsJson.toFile(), docs);
            try (InputStream in = TokenizerBench.class.getResourceAsStream("tokenizer_peers_bench.py")) {
                Files.write(script, in.readAllBytes());
            }
            ProcessBuilder pb = new ProcessBuilder(BenchCommand.pythonCommand(python), script.toString(),
                    "--docs", docsJson.toString(), "--tokenizer-json", tokFile.toString(),
                    "--gpt2-encoder", gpt2Files.resolve("encoder.json").toString(),
                    "--gpt2-vocab-bpe", gpt2Files.resolve("vocab.bpe").toString(),
                    "--threads", String.valueOf(threads), "--warmup", String.valueOf(warmup),
                    "--repeat", String.valueOf(repeat));
            pb.environment().put("RAYON_NUM_THREADS", String.valueOf(threads));
            pb.environment().put("TOKENIZERS_PARALLELISM", "true");
            JsonNode peers = BenchCommand.runPeer(pb, "tokenizers and tiktoken", "tokenizers and tiktoken",
                    "bin/setup-python");
            Timed hf = Timed.of(peers.get("hf_tokenizers"));
            Timed tiktoken = Timed.of(peers.get("tiktoken"));

            double mb = bytes * (double) repeat / 1e6;
            ObjectNode f = BenchCommand.JSON.createObjectNode();
            f.put("benchmark", "bpe-encode");
            f.put("threads", threads);
            f.put("documents", docs.size());
            f.put("text_bytes", bytes);
            f.put("warmup_passes", warmup);
            f.put("timed_passes", repeat);
            ObjectNode a = f.putObject("prep_tokenizer");
            a.put("vocab_size", own.vocabSize());
            a.put("tokens_per_pass", javaOwn.tokens());
            a.put("distillery_mb_per_s", mb / javaOwn.seconds());
            a.put("hf_tokenizers_mb_per_s", mb / hf.seconds());
            a.put("ratio_distillery_over_hf", hf.seconds() / javaOwn.seconds());
            a.put("ids_identical", javaOwn.idsSha256().equals(hf.idsSha256()));
            ObjectNode b = f.putObject("gpt2");
            b.put("vocab_size", gpt2.vocabSize());
            b.put("tokens_per_pass", javaGpt2.tokens());
            b.put("distillery_mb_per_s", mb / javaGpt2.seconds());
            b.put("tiktoken_mb_per_s", mb / tiktoken.seconds());
            b.put("ratio_distillery_over_tiktoken", tiktoken.seconds() / javaGpt2.seconds());
            // tiktoken keeps no cache of encoded pieces: the same work without Distillery's, for the record
            b.put("distillery_no_piece_cache_mb_per_s", mb / javaGpt2NoCache.seconds());
            b.put("ratio_distillery_no_piece_cache_over_tiktoken", tiktoken.seconds() / javaGpt2NoCache.seconds());
            b.put("ids_identical", javaGpt2.idsSha256().equals(tiktoken.idsSha256())
                    && javaGpt2NoCache.idsSha256().equals(tiktoken.idsSha256()));
            boolean identical = a.get("ids_identical").asBoolean() && b.get("ids_identical").asBoolean();
            f.put("ids_identical", identical);
            BenchCommand.write(benchDir, "tokenizer.json", f);
            System.out.printf("bench tokenizer: prep's vocab: distillery %.1f MB/s, hf tokenizers %.1f MB/s, ratio %.2fx;"
                    + " GPT-2's: distillery %.1f MB/s, tiktoken %.1f MB/s, ratio %.2fx (without the piece cache %.1f MB/s,"
                    + " %.2fx) (threads %d, %d docs, %.1f MB, %d+%d passes, ids identical: %s)%n",
                    a.get("distillery_mb_per_s").asDouble(), a.get("hf_tokenizers_mb_per_s").asDouble(),
                    a.get("ratio_distillery_over_hf").asDouble(), b.get("distillery_mb_per_s").asDouble(),
                    b.get("tiktoken_mb_per_s").asDouble(), b.get("ratio_distillery_over_tiktoken").asDouble(),
                    b.get("distillery_no_piece_cache_mb_per_s").asDouble(),
                    b.get("ratio_distillery_no_piece_cache_over_tiktoken").asDouble(),
                    threads, docs.size(), bytes / 1e6, warmup, repeat, identical);
            return identical ? 0 : 1;
        } finally {
            Files.deleteIfExists(docsJson);
            Files.deleteIfExists(script);
        }
    }

    /** {@code warmup} untimed passes, then {@code repeat} timed ones of encoding only; the last pass's ids hashed. */
    private Timed time(BpeTokenizer tok, List<String> docs, ExecutorService pool) throws Exception {
        int[][] ids = new int[docs.size()][];
        for (int i = 0; i < warmup; i++) {
            encodeAll(tok, docs, pool, ids);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < repeat; i++) {
            encodeAll(tok, docs, pool, ids);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        MessageDigest md = Sha256.newDigest();
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
        return new Timed(seconds, tokens, Sha256.hex(md.digest()));
    }

    /** Every document encoded, the documents split into one contiguous run per thread. */
    private void encodeAll(BpeTokenizer tok, List<String> docs, ExecutorService pool, int[][] ids) throws Exception {
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
    }
}
