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
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.core.testing.SparkDistribution;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkSessions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A driver in this JVM (as {@code distillery prep --master spark://...} runs one) on a standalone master and
 * worker started from the real Spark distribution, the shaded job jar shipped to executors with spark.jars:
 * an executor killed with SIGKILL in the middle of the job is replaced and the shards are still
 * byte-identical to a local[2] run. {@link SparkSubmitIT} covers jobs submitted with spark-submit.
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
        specFile = dir.resolve("prep.yaml");
        SamplePrepSpec.write(specFile, "partitions: 6");
        spec = SpecReader.read(specFile, PrepSpec.class);
        SparkSession spark = SparkSessions.open("local[2]", "cluster-it-local", 6);
        try {
            local = run(spark, "local");
        } finally {
            spark.stop();
        }
    }

    static SparkDistribution.Cluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = SparkDistribution.find().startCluster(dir.resolve("cluster"), 2, "3g");
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
                        + SparkDistribution.tail(cluster.workerLog, 30));
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
            assertArrayEquals(Files.readAllBytes(a.resolve(ma.tokenizer().file())),
                    Files.readAllBytes(b.resolve(mb.tokenizer().file())), "the tokenizer is byte-identical");
            for (TokenShardWriter.Summary s : sa) {
                assertArrayEquals(Files.readAllBytes(a.resolve(s.file())), Files.readAllBytes(b.resolve(s.file())),
                        s.file() + " is byte-identical");
            }
        }
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
}
