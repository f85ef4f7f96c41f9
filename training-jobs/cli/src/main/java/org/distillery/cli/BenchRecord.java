package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.process.ChildProcess;
import org.distillery.core.progress.ProgressEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Runs a benchmark in N fresh JVMs (its warm-up, measured part and peer each time), writes min / median / max of
 * every figure to {@code <name>-runs.json}, and appends them with the commit and the CPU to the repository's figures
 * file, from which {@code bench table} writes the README's table. A figure spread wider than
 * {@link BenchFigures#SPREAD_LIMIT} is reported on stderr: a bimodality to explain, not to average away.
 */
@Command(name = "record", description = "Run a benchmark in N fresh processes; min/median/max of each figure,"
        + " appended to the figures file with the commit and CPU. The benchmark's options follow --, as in"
        + " bench record --runs 3 -- train --prep work/prep/demo")
final class BenchRecord implements Callable<Integer> {
    @Option(names = "--runs", defaultValue = "3", description = "fresh processes (at least 3 for a recorded figure)")
    int runs;

    @Option(names = "--figures", defaultValue = "docs/bench/figures.jsonl",
            description = "the figures file to append to (relative to the checkout)")
    Path figures;

    @Option(names = "--no-record", description = "measure and print, do not append to the figures file")
    boolean noRecord;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    @Parameters(index = "0", description = "the benchmark: train, distill, generate, export, tokenizer, prep, allreduce")
    String benchmark;

    @Parameters(index = "1..*", arity = "0..*", description = "its options, after -- (not --bench-dir)")
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (runs < 1) {
            throw new DistilleryException("--runs must be at least 1, was " + runs);
        }
        if (!noRecord && runs < 3) {
            throw new DistilleryException("--runs " + runs + ": a recorded figure needs at least 3 fresh processes"
                    + " (or give --no-record)");
        }
        if (args.contains("--bench-dir") || args.stream().anyMatch(a -> a.startsWith("--bench-dir="))) {
            throw new DistilleryException("give --bench-dir to bench record, before the benchmark's name");
        }
        Path scratch = Files.createTempDirectory(Files.createDirectories(benchDir), ".record-");
        List<JsonNode> results = new ArrayList<>();
        String name = null;
        try {
            for (int i = 1; i <= runs; i++) {
                Path dir = scratch.resolve("run-" + i);
                ChildProcess.Result r = runOnce(dir);
                if (r.exitCode() != 0) {
                    throw new DistilleryException("bench " + benchmark + ", process " + i + " of " + runs
                            + ", failed (exit " + r.exitCode() + "); its errors are above");
                }
                System.out.println("process " + i + "/" + runs + ": " + r.stdout().strip());
                Path json;
                try (Stream<Path> files = Files.list(dir)) {
                    json = files.filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow(() ->
                            new DistilleryException("bench " + benchmark + " wrote no figures under " + dir));
                }
                name = json.getFileName().toString().replaceFirst("\\.json$", "");
                results.add(BenchCommand.JSON.readTree(json.toFile()));
            }
        } finally {
            deleteTree(scratch);
        }
        ObjectNode aggregate = BenchFigures.aggregate(results);
        ObjectNode record = BenchCommand.JSON.createObjectNode().put("schema", BenchFigures.SCHEMA)
                .put("commit", commit()).put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString())
                .put("cpu", cpu()).put("java", System.getProperty("java.version"))
                .put("benchmark", benchmark);
        record.set("args", BenchFigures.array(args));
        record.put("runs", runs);
        record.set("figures", aggregate);
        BenchCommand.write(benchDir, name + "-runs.json", record);

        StringBuilder line = new StringBuilder("bench record " + benchmark + " (" + runs + " processes):");
        for (String p : BenchFigures.headline(aggregate)) {
            JsonNode f = aggregate.get(p);
            line.append(String.format(Locale.ROOT, " %s %.4g (%.4g-%.4g, spread %.2f);", p, f.get("median").asDouble(),
                    f.get("min").asDouble(), f.get("max").asDouble(),
                    f.get("max").asDouble() / f.get("min").asDouble()));
        }
        for (Map.Entry<String, Double> w : BenchFigures.wide(aggregate).entrySet()) {
            System.err.printf(Locale.ROOT, "warning: %s spreads %.2fx over %d processes (limit %.2f): a bimodality"
                    + " or a noisy machine, not a figure to quote%n", w.getKey(), w.getValue(), runs,
                    BenchFigures.SPREAD_LIMIT);
        }
        if (!noRecord) {
            Path file = home().resolve(figures);
            BenchFigures.append(file, record);
            line.append(" recorded in ").append(file);
        }
        System.out.println(line);
        return 0;
    }

    /** One fresh JVM of this very command line's JVM, running the benchmark into {@code dir}. */
    private ChildProcess.Result runOnce(Path dir) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-Ddistillery.terminal=")) {
                cmd.add(a);
            }
        }
        cmd.add("-Ddistillery.terminal=false"); // progress as JSON lines, which are not passed on
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Distillery.class.getName(), "bench",
                benchmark));
        cmd.addAll(args);
        cmd.addAll(List.of("--bench-dir", dir.toString()));
        // The child's errors and its peers' pass on; its progress events and the JVM's incubator note do not.
        return ChildProcess.start(new ProcessBuilder(cmd), "bench " + benchmark, line -> {
            if (ProgressEvent.read(line, 0).isEmpty() && !line.startsWith("WARNING: Using incubator modules")) {
                System.err.println(line);
            }
        }).await(BenchCommand.PEER_TIMEOUT);
    }

    private static Path home() {
        String h = System.getProperty("distillery.home");
        return h == null ? Path.of("") : Path.of(h);
    }

    /**
     * The checkout's commit, {@code +dirty} when it has changes, or {@code unknown} without git. The figures file
     * and the README's table are left out: recording one benchmark must not mark the next one's commit dirty.
     */
    static String commit() {
        try {
            ChildProcess.Result head = ChildProcess.start(new ProcessBuilder("git", "-C", home().toString(),
                    "rev-parse", "--short", "HEAD"), "git rev-parse").await(Duration.ofSeconds(30));
            ChildProcess.Result status = ChildProcess.start(new ProcessBuilder("git", "-C", home().toString(),
                    "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/bench/figures.jsonl",
                    ":!README.md"), "git status").await(Duration.ofSeconds(30));
            if (head.exitCode() != 0) {
                return "unknown";
            }
            return head.stdout().strip() + (status.stdout().isBlank() ? "" : "+dirty");
        } catch (IOException | RuntimeException e) {
            return "unknown";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    /** The processor's name, its widest vector extension and its cores, from /proc/cpuinfo where there is one. */
    static String cpu() {
        return org.distillery.core.process.Processor.current().describe();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
