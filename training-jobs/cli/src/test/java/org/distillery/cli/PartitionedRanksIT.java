package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.distillery.core.testing.SparkDistribution;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rank that cannot reach its neighbour, on a real network partition: a standalone master on the host and two
 * workers, each in a Linux network namespace of its own (a "rack") joined to the host by a veth pair. The host does
 * not forward between them, so each rack reaches the master and the driver but not the other rack: Spark runs both
 * ranks, and neither reaches its neighbour. The run fails within its {@code distributed.timeout_s}, naming a rank and
 * the address it could not reach; nothing hangs and no model is written. Needs root (network namespaces), as CI runs.
 */
class PartitionedRanksIT {
    private static final long JOB_TIMEOUT_S = 300;

    @TempDir
    Path dir;
    private final List<Process> processes = new ArrayList<>();
    private final List<List<String>> cleanup = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (List<String> cmd : cleanup) {
            run(cmd, false);
        }
    }

    private static void run(List<String> cmd, boolean check) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(30, TimeUnit.SECONDS) || (check && p.exitValue() != 0)) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    /** {@code prefix bin/<script> args} of the distribution on {@code localIp}, its output in {@code log}. */
    private Process start(SparkDistribution spark, List<String> prefix, String script, Path log, String localIp,
                          List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(spark.home.resolve("bin").resolve(script).toString());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().putAll(spark.environment());
        pb.environment().put("SPARK_LOCAL_IP", localIp);
        pb.environment().put("SPARK_DAEMON_MEMORY", "512m");
        pb.environment().remove("DISTILLERY_HOME");
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    /**
     * A network namespace joined to the host by a veth pair: the host's end {@code 10.S.K.1}, the namespace's
     * {@code 10.S.K.2}, its default route through the host, which forwards nothing (ip_forward 0), so the namespace
     * reaches the host's addresses and no other namespace's.
     */
    private String rack(String id, int subnet, int k) throws IOException, InterruptedException {
        String ns = "dist" + id + k;
        String hostEnd = "vh" + id + k;
        String nsEnd = "vn" + id + k;
        String prefix = "10." + subnet + "." + k + ".";
        cleanup.add(List.of("ip", "netns", "del", ns));
        cleanup.add(List.of("ip", "link", "del", hostEnd));
        run(List.of("ip", "netns", "add", ns), true);
        run(List.of("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd), true);
        run(List.of("ip", "link", "set", nsEnd, "netns", ns), true);
        run(List.of("ip", "addr", "add", prefix + "1/24", "dev", hostEnd), true);
        run(List.of("ip", "link", "set", hostEnd, "up"), true);
        run(List.of("ip", "netns", "exec", ns, "ip", "addr", "add", prefix + "2/24", "dev", nsEnd), true);
        run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", nsEnd, "up"), true);
        run(List.of("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"), true);
        run(List.of("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", prefix + "1"), true);
        return ns;
    }

    @Test
    void aRankThatCannotReachItsNeighbourFailsTheRunNamingIt() throws Exception {
        assertEquals("0", Files.readString(Path.of("/proc/sys/net/ipv4/ip_forward")).strip(),
                "the host forwards no packets between namespaces");
        SparkDistribution spark = SparkDistribution.find();
        String id = Long.toString(ProcessHandle.current().pid() % 10000, 36);
        int subnet = 100 + (int) (ProcessHandle.current().pid() % 150);
        // two racks, each reaching the head node (master, driver) but not the other rack
        String nsA = rack(id, subnet, 1);
        String nsB = rack(id, subnet, 2);
        String host = "10." + subnet + ".1.1";
        int port = SparkDistribution.freePort();
        String master = "spark://" + host + ":" + port;
        Process m = start(spark, List.of(), "spark-class", dir.resolve("master.log"), host, List.of(
                "org.apache.spark.deploy.master.Master", "--host", host, "--port", String.valueOf(port),
                "--webui-port", String.valueOf(SparkDistribution.freePort())));
        SparkDistribution.awaitLog(dir.resolve("master.log"), "I have been elected leader", Duration.ofSeconds(90), m);
        for (int k = 1; k <= 2; k++) {
            String ip = "10." + subnet + "." + k + ".2";
            Path log = dir.resolve("worker-" + k + ".log");
            Process w = start(spark, List.of("ip", "netns", "exec", k == 1 ? nsA : nsB), "spark-class", log, ip, List.of(
                    "org.apache.spark.deploy.worker.Worker", "--host", ip, "--cores", "1", "--memory", "2g",
                    "--webui-port", "8081", "--work-dir", Files.createDirectories(dir.resolve("work-" + k)).toString(),
                    master));
            SparkDistribution.awaitLog(log, "Successfully registered with master", Duration.ofSeconds(90), w);
        }

        Path data = TinyPrep.write(dir.resolve("prep"), 40, false);
        Path spec = TinySpecs.train(dir, "apart", data, 4, 1, "distributed: {ranks: 2, timeout_s: 10, attempts: 1}");
        Path out = dir.resolve("apart-out");
        Path events = Files.createDirectories(dir.resolve("events"));
        List<String> args = new ArrayList<>(SparkDistribution.jobArgs(master, "client", "apart",
                List.of("spark.driver.host=" + host, "spark.driver.bindAddress=" + host), events,
                List.of("--work-dir", dir.resolve("work").toString(), "train", spec.toString(), "--out",
                        out.toString())));
        Path log = dir.resolve("submit.log");
        long t0 = System.nanoTime();
        Process submit = start(spark, List.of(), "spark-submit", log, host, args);
        assertTrue(submit.waitFor(JOB_TIMEOUT_S, TimeUnit.SECONDS), "the run ended:\n" + SparkDistribution.tail(log, 40));
        double seconds = (System.nanoTime() - t0) / 1e9;
        String text = Files.readString(log);
        assertEquals(2, submit.exitValue(), "submit log:\n" + text);
        List<String> errors = text.lines().filter(l -> l.startsWith("error: ")).toList();
        assertEquals(1, errors.size(), "one error line:\n" + text);
        String error = errors.get(0);
        assertTrue(error.startsWith("error: the distributed run failed: rank "), error);
        assertTrue((error.contains("cannot reach rank") || error.contains("did not answer in time")
                || error.contains("did not connect in 10 s")) && error.contains("10." + subnet + "."),
                "names the neighbour and its address: " + error);
        assertFalse(Files.exists(out.resolve("model.ckpt")), "no model");
        System.out.println("partitioned ranks: failed in " + Math.round(seconds) + " s: " + error);
        assertTrue(seconds < 200, "bounded: " + seconds + " s");
    }
}
