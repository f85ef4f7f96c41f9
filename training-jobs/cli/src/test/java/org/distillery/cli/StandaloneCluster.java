package org.distillery.cli;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A real Spark standalone master and worker on 127.0.0.1, started as separate JVMs from the
 * project's own Spark jars (no Spark distribution can be downloaded here). The worker needs
 * SPARK_HOME with a jars/ folder (it builds executors' class path from it) and SPARK_SCALA_VERSION;
 * without them every executor launch fails and jobs hang, which {@link #awaitWorker} turns into an error.
 */
final class StandaloneCluster implements AutoCloseable {
    final Path home;
    final int masterPort;
    final Process master;
    final Process worker;
    final Path workerLog;

    StandaloneCluster(Path dir, Path libDir, String jvmFlags) throws IOException, InterruptedException {
        home = dir.resolve("spark-home");
        Path jars = Files.createDirectories(home.resolve("jars"));
        // Spark's own jars only: the job's classes must reach executors through spark.jars, as on a real cluster.
        try (Stream<Path> s = Files.list(libDir)) {
            for (Path j : s.filter(p -> !p.getFileName().toString().startsWith("distillery-")).toList()) {
                Files.createSymbolicLink(jars.resolve(j.getFileName()), j.toAbsolutePath());
            }
        }
        masterPort = freePort();
        String cp = jars + "/*";
        master = start(dir, "master", cp, jvmFlags, List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                "--port", String.valueOf(masterPort), "--webui-port", String.valueOf(freePort())));
        awaitLog(dir.resolve("master.log"), "I have been elected leader", Duration.ofSeconds(90), master);
        workerLog = dir.resolve("worker.log");
        worker = start(dir, "worker", cp, jvmFlags, List.of("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                "--cores", "2", "--memory", "3g", "--webui-port", String.valueOf(freePort()),
                "--work-dir", dir.resolve("worker-work").toString(), masterUrl()));
        awaitLog(workerLog, "Successfully registered with master", Duration.ofSeconds(90), worker);
    }

    String masterUrl() {
        return "spark://127.0.0.1:" + masterPort;
    }

    private Process start(Path dir, String name, String cp, String jvmFlags, List<String> mainAndArgs) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(jvmFlags.trim().split("\\s+")));
        cmd.addAll(List.of("-Xmx512m", "-cp", cp));
        cmd.addAll(mainAndArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve(name + ".log").toFile());
        pb.environment().put("SPARK_HOME", home.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        return pb.start();
    }

    static void awaitLog(Path log, String line, Duration timeout, Process p) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (Files.exists(log) && Files.readString(log).contains(line)) {
                return;
            }
            if (!p.isAlive()) {
                throw new IllegalStateException("Spark process exited (" + p.exitValue() + ") before \"" + line + "\"; see "
                        + log + ":\n" + tail(log));
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("no \"" + line + "\" in " + log + " after " + timeout.toSeconds() + " s:\n"
                + tail(log));
    }

    static String tail(Path log) throws IOException {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Executor JVMs this worker launched, found by their main class. */
    List<ProcessHandle> executors() {
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains("CoarseGrainedExecutorBackend")
                        && c.contains(home.toString())).orElse(false))
                .toList();
    }

    @Override
    public void close() {
        for (Process p : new Process[] {worker, master}) {
            if (p != null) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
    }
}
