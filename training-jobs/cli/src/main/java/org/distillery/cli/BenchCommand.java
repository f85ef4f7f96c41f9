package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.process.ChildProcess;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.tokenizer.BpeTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** Benchmarks: programs that write their figures to target/bench/*.json and print a one-line summary. */
@Command(name = "bench", description = "Benchmarks (figures to target/bench/*.json).",
        subcommands = {TokenizerBench.class, PrepBench.class, TrainBench.class, DistillBench.class, GenerateBench.class,
            ExportBench.class, AllReduceBench.class, BenchRecord.class, BenchTable.class})
final class BenchCommand {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @ParentCommand
    Distillery top;

    static void write(Path benchDir, String name, ObjectNode figures) throws IOException {
        Files.createDirectories(benchDir);
        AtomicFile.write(benchDir.resolve(name), JSON.writeValueAsBytes(figures));
    }

    /**
     * How long a peer may run: a bound that only catches a hang (a peer times what Distillery's side of the same
     * benchmark times, on the same machine), not a limit on how slow the machine may be.
     */
    static final Duration PEER_TIMEOUT = Duration.ofHours(2);

    /**
     * Runs a Python peer (its stderr passes through) and returns the JSON of its last stdout line;
     * a failure names the package the peer needs and the command that installs it.
     */
    static JsonNode runPeer(ProcessBuilder pb, String peer, String module, String setup)
            throws IOException, InterruptedException {
        return runPeer(pb, peer, module, setup, PEER_TIMEOUT);
    }

    /** As {@link #runPeer(ProcessBuilder, String, String, String)}, stopped (with what it started) after {@code timeout}. */
    static JsonNode runPeer(ProcessBuilder pb, String peer, String module, String setup, Duration timeout)
            throws IOException, InterruptedException {
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        ChildProcess p;
        try {
            p = ChildProcess.start(pb, "the " + peer + " peer (" + String.join(" ", pb.command()) + ")");
        } catch (IOException e) {
            throw new DistilleryException("cannot run the " + peer + " peer with " + pb.command().get(0) + " ("
                    + e.getMessage() + "); give --python, or run " + setup);
        }
        ChildProcess.Result r = p.await(timeout);
        if (r.exitCode() != 0) {
            throw new DistilleryException("the " + peer + " peer failed (exit " + r.exitCode() + "); is " + module
                    + " installed for " + pb.command().get(0) + "? (" + setup + ")");
        }
        return JSON.readTree(r.stdout().lines().reduce((a, b) -> b).orElse("{}"));
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
}
