package org.distillery.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.io.Directories;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkSessions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code bench prep}: MB/s of raw text through the whole prep job, with each stage's seconds, on a master
 * of the user's choice ({@code local[2]} by default, or a cluster's: the job jar then goes to the executors
 * in {@code spark.jars}). In one Spark session, the job first runs {@code --warmup} times, then {@code --runs}
 * times; the figure is the median of the latter, as a benchmark harness measures after warm-up iterations
 * (JMH's default is five of ten seconds each). A prep job on a real corpus runs for minutes with its code
 * compiled; a run of this 19 MB one lasts seconds, and its time kept falling through the sixth or seventh run,
 * the JIT compiling Spark's and the job's code on the same two cores. The first warm-up run
 * (a cold JVM: classes load, nothing is compiled) is reported apart.
 */
@Command(name = "prep", description = "Prep throughput: MB/s of raw text in, with the per-stage split.")
final class PrepBench implements Callable<Integer> {
    @ParentCommand
    BenchCommand parent;

    @Option(names = "--spec", required = true)
    Path specFile;

    @Option(names = "--master", defaultValue = "local[2]", description = "Spark master")
    String master;

    @Option(names = "--warmup", defaultValue = "5", description = "runs before the measured ones (the first is the"
            + " cold one); default 5")
    int warmup;

    @Option(names = "--runs", defaultValue = "5", description = "measured runs, after the warm-up; default 5")
    int runs;

    @Option(names = "--job-jar", description = "the job jar executors load on a cluster (default: the build's)")
    Path jobJar;

    @Option(names = "--bench-dir", defaultValue = "target/bench")
    Path benchDir;

    @Override
    public Integer call() throws Exception {
        PrepSpec spec = SpecReader.read(specFile, PrepSpec.class);
        Map<String, String> conf = new HashMap<>();
        if (!master.startsWith("local")) {
            conf.put("spark.jars", JobJar.find(jobJar).toUri().toString());
            conf.put("spark.executor.extraJavaOptions", "--add-modules=jdk.incubator.vector");
        }
        Path tmp = Files.createTempDirectory("bench-prep");
        SparkSession spark = SparkSessions.open(new SparkSessions.Request("distillery-bench-prep", master, null,
                spec.spark().partitions(), conf), System.err);
        List<Run> done = new ArrayList<>();
        try {
            for (int i = 0; i < Math.max(1, warmup) + Math.max(1, runs); i++) {
                Path out = tmp.resolve("out-" + i);
                long t0 = System.nanoTime();
                PrepJob.Result r = new PrepJob(spec, specFile.toAbsolutePath().getParent(), parent.top.catalog(), out,
                        false, ProgressListener.NONE).run(spark);
                Run run = new Run((System.nanoTime() - t0) / 1e9, r.manifest().stats().bytesRead(),
                        r.manifest().stats().documentsRead(), r.manifest().stats().documentsKept(),
                        r.manifest().tokens("train") + r.manifest().tokens("val"), r.stageSeconds());
                done.add(run);
                System.err.printf("%s %d: %.2f MB/s (%.1f s)%s%n", i < Math.max(1, warmup) ? "warm-up" : "run",
                        i + 1, run.mbPerSecond(), run.seconds(), run.split());
                Directories.deleteRecursively(out);
            }
        } finally {
            spark.stop();
            Directories.deleteRecursively(tmp);
        }
        Run cold = done.get(0);
        List<Run> warm = done.subList(Math.max(1, warmup), done.size());
        Run median = warm.stream().sorted(Comparator.comparingDouble(Run::seconds)).toList().get((warm.size() - 1) / 2);
        int cores = cores(spark.sparkContext());
        ObjectNode f = BenchCommand.JSON.createObjectNode();
        f.put("benchmark", "prep");
        f.put("master", master);
        f.put("cores", cores);
        f.put("bytes_in", median.bytes());
        f.put("documents_read", median.documentsRead());
        f.put("documents_kept", median.documentsKept());
        f.put("tokens_out", median.tokens());
        f.put("mb_per_s", median.mbPerSecond());
        f.put("mb_per_s_per_core", median.mbPerSecond() / cores);
        f.put("seconds", median.seconds());
        f.put("warmup_runs", Math.max(1, warmup));
        f.put("measured_runs", warm.size());
        f.put("cold_mb_per_s", cold.mbPerSecond());
        f.put("cold_seconds", cold.seconds());
        ObjectNode stages = f.putObject("stage_seconds");
        median.stageSeconds().forEach(stages::put);
        ArrayNode all = f.putArray("runs_seconds");
        done.forEach(r -> all.add(r.seconds()));
        String file = master.startsWith("local") ? "prep.json" : "prep-cluster.json";
        BenchCommand.write(benchDir, file, f);
        System.out.printf("bench prep: %.2f MB/s, %.2f per core (%.1f MB in %.1f s on %s, median of %d runs after"
                + " %d warm-up; cold run %.2f MB/s);%s%n", median.mbPerSecond(), median.mbPerSecond() / cores, median.bytes() / 1e6,
                median.seconds(), master, warm.size(), Math.max(1, warmup), cold.mbPerSecond(), median.split());
        return 0;
    }

    /** One run's figures. */
    record Run(double seconds, long bytes, long documentsRead, long documentsKept, long tokens,
               Map<String, Double> stageSeconds) {
        Run {
            stageSeconds = new LinkedHashMap<>(stageSeconds);
        }

        double mbPerSecond() {
            return bytes / 1e6 / seconds;
        }

        String split() {
            StringBuilder b = new StringBuilder();
            stageSeconds.forEach((k, v) -> b.append(String.format(" %s=%.1fs", k, v)));
            return b.toString();
        }
    }

    /**
     * The cores the job ran on: local[N] says so; on a cluster, spark.cores.max where set, else the cores of the
     * executors registered (Spark's default parallelism there is their total), asked after the runs, when they are.
     */
    private static int cores(org.apache.spark.SparkContext sc) {
        String m = sc.master();
        if (m.startsWith("local")) {
            String n = m.replaceAll("local\\[(\\d+|\\*)\\].*", "$1");
            return n.equals("*") || n.equals(m) ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(n);
        }
        return sc.getConf().contains("spark.cores.max") ? sc.getConf().getInt("spark.cores.max", 1)
                : sc.defaultParallelism();
    }
}
