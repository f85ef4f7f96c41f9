package org.distillery.core.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Spark 4.1.3 distribution: the one the PyPI wheel {@code pyspark} carries ({@code bin/spark-submit},
 * {@code bin/spark-class}, {@code jars/}), installed by {@code bin/setup-python} into {@code .venv}. Tests start
 * a standalone master and worker from it on 127.0.0.1 and submit the job jar with its {@code spark-submit},
 * as a user does on a cluster.
 */
public final class SparkDistribution {
    private static final ObjectMapper JSON = new ObjectMapper();

    public final Path home;

    private SparkDistribution(Path home) {
        this.home = home;
    }

    /** The distribution in the test Python's pyspark; fails (never skips) when it is not installed. */
    public static SparkDistribution find() throws IOException, InterruptedException {
        String python = RepoFixtures.python();
        Process p = new ProcessBuilder(python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(python + " has no pyspark (bin/setup-python installs it): " + out);
        }
        Path home = Path.of(out.lines().reduce((a, b) -> b).orElse(out));
        if (!Files.isExecutable(home.resolve("bin/spark-submit")) || !Files.isDirectory(home.resolve("jars"))) {
            throw new IllegalStateException(home + " is not a Spark distribution (no bin/spark-submit or jars/)");
        }
        return new SparkDistribution(home);
    }

    /** The environment every Spark script of the distribution runs with. */
    public Map<String, String> environment() {
        return Map.of("SPARK_HOME", home.toString(),
                "JAVA_HOME", System.getProperty("java.home"),
                "SPARK_LOCAL_IP", "127.0.0.1",
                "SPARK_SCALA_VERSION", "2.13");
    }

    /** {@code bin/spark-submit ARGS} run in {@code cwd}, its stdout and stderr in {@code log}. */
    public Process submit(List<String> args, Path log, Path cwd) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(home.resolve("bin/spark-submit").toString());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().putAll(environment());
        pb.environment().remove("DISTILLERY_HOME");
        return pb.start();
    }

    /** A standalone master and one worker ({@code cores}, {@code memory}) in {@code dir}. */
    public Cluster startCluster(Path dir, int cores, String memory) throws IOException, InterruptedException {
        return new Cluster(this, Files.createDirectories(dir), 1, cores, memory, false);
    }

    /**
     * A standalone master and {@code workers} workers of {@code cores} and {@code memory} each, in {@code dir}; with
     * {@code fakeGpus}, worker i has one GPU, address "i", as its discovery script reports it (there is none: Spark
     * schedules the address, a CPU job only sees it).
     */
    public Cluster startCluster(Path dir, int workers, int cores, String memory, boolean fakeGpus)
            throws IOException, InterruptedException {
        return new Cluster(this, Files.createDirectories(dir), workers, cores, memory, fakeGpus);
    }

    /**
     * The arguments of a {@code spark-submit} of the job jar as the README gives them: the JVM flags the build wrote
     * for driver and executors, 1 GB each, an uncompressed event log in {@code events}, and {@code conf} and
     * {@code appArgs} (progress as JSON events) last.
     */
    public static List<String> jobArgs(String master, String deployMode, String name, List<String> conf, Path events,
                                List<String> appArgs) throws IOException {
        String flags = Files.readString(Path.of(System.getProperty("distillery.lib.dir")).resolveSibling("jvm.options"))
                .trim();
        List<String> args = new ArrayList<>(List.of("--master", master, "--deploy-mode", deployMode,
                "--name", "distillery-" + name,
                "--class", "org.distillery.cli.Distillery",
                "--driver-memory", "1g",
                "--driver-java-options", flags,
                "--conf", "spark.executor.memory=1g",
                "--conf", "spark.executor.extraJavaOptions=" + flags,
                "--conf", "spark.eventLog.enabled=true",
                "--conf", "spark.eventLog.compress=false",
                "--conf", "spark.eventLog.dir=" + events.toUri(),
                "--conf", "spark.standalone.submit.waitAppCompletion=true"));
        for (String c : conf) {
            args.addAll(List.of("--conf", c));
        }
        args.add(System.getProperty("distillery.job.jar"));
        args.add("--progress=json");
        args.addAll(appArgs);
        return args;
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public static String tail(Path log, int lines) throws IOException {
        if (!Files.exists(log)) {
            return "(no log at " + log + ")";
        }
        List<String> all = Files.readAllLines(log);
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** A master and its workers, started from the distribution with {@code spark-class} as separate processes. */
    public static final class Cluster implements AutoCloseable {
        public final SparkDistribution spark;
        public final int masterPort;
        public final int masterUiPort;
        public final Path masterLog;
        /** The first worker's log and work folder (the only worker's, for a one-worker cluster). */
        public final Path workerLog;
        public final Path workerDir;
        public final List<Path> workerLogs = new ArrayList<>();
        private final Process master;
        private final List<Process> workers = new ArrayList<>();

        Cluster(SparkDistribution spark, Path dir, int workerCount, int cores, String memory, boolean fakeGpus)
                throws IOException, InterruptedException {
            this.spark = spark;
            masterPort = freePort();
            masterUiPort = freePort();
            masterLog = dir.resolve("master.log");
            workerLog = dir.resolve("worker.log");
            workerDir = Files.createDirectories(dir.resolve("worker-work"));
            master = start(dir, masterLog, List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", String.valueOf(masterPort), "--webui-port", String.valueOf(masterUiPort)), Map.of());
            try {
                awaitLog(masterLog, "I have been elected leader", Duration.ofSeconds(90), master);
                for (int i = 0; i < workerCount; i++) {
                    Path log = i == 0 ? workerLog : dir.resolve("worker-" + i + ".log");
                    Path work = i == 0 ? workerDir : Files.createDirectories(dir.resolve("worker-work-" + i));
                    Map<String, String> env = new java.util.HashMap<>();
                    if (fakeGpus) {
                        Path script = dir.resolve("gpus-" + i + ".sh");
                        Files.writeString(script, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"" + i
                                + "\"]}'\n");
                        script.toFile().setExecutable(true);
                        env.put("SPARK_WORKER_OPTS", "-Dspark.worker.resource.gpu.amount=1"
                                + " -Dspark.worker.resource.gpu.discoveryScript=" + script);
                    }
                    Process w = start(dir, log, List.of("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                            "--cores", String.valueOf(cores), "--memory", memory, "--webui-port",
                            String.valueOf(freePort()), "--work-dir", work.toString(), masterUrl()), env);
                    workers.add(w);
                    workerLogs.add(log);
                    awaitLog(log, "Successfully registered with master", Duration.ofSeconds(90), w);
                }
            } catch (IOException | InterruptedException | RuntimeException e) {
                workers.forEach(Cluster::destroy);
                destroy(master);
                throw e;
            }
        }

        public String masterUrl() {
            return "spark://127.0.0.1:" + masterPort;
        }

        private Process start(Path dir, Path log, List<String> mainAndArgs, Map<String, String> env)
                throws IOException {
            List<String> cmd = new ArrayList<>();
            cmd.add(spark.home.resolve("bin/spark-class").toString());
            cmd.addAll(mainAndArgs);
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            pb.environment().putAll(spark.environment());
            pb.environment().put("SPARK_DAEMON_MEMORY", "512m");
            pb.environment().putAll(env);
            return pb.start();
        }

        /** The master's status page as JSON: workers, active and completed applications and drivers. */
        public JsonNode status() throws IOException, InterruptedException {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + masterUiPort + "/json/")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return JSON.readTree(r.body());
        }

        /** Executor JVMs the workers launched: their child processes running the executor's main class. */
        public List<ProcessHandle> executors() {
            return workers.stream().flatMap(Process::descendants)
                    .filter(p -> p.info().commandLine().map(c -> c.contains("CoarseGrainedExecutorBackend")).orElse(false))
                    .toList();
        }

        /** A file every driver the worker ran in cluster mode wrote ({@code stdout}, {@code stderr}), newest last. */
        public List<Path> driverFiles(String name) throws IOException {
            try (Stream<Path> s = Files.list(workerDir)) {
                return s.filter(p -> p.getFileName().toString().startsWith("driver-")).sorted()
                        .map(p -> p.resolve(name)).filter(Files::exists).toList();
            }
        }

        @Override
        public void close() {
            workers.forEach(Cluster::destroy);
            destroy(master);
        }

        private static void destroy(Process p) {
            if (p != null) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
    }

    public static void awaitLog(Path log, String line, Duration timeout, Process p) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (Files.exists(log) && Files.readString(log).contains(line)) {
                return;
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("Spark process exited (" + p.exitValue() + ") before \"" + line
                        + "\"; see " + log + ":\n" + tail(log, 30));
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("no \"" + line + "\" in " + log + " after " + timeout.toSeconds() + " s:\n"
                + tail(log, 30));
    }
}
