package org.distillery.model.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.distillery.core.JobContext;
import org.distillery.core.collective.FlippingProxy;
import org.distillery.core.collective.RingAllReduce;
import org.distillery.core.collective.RingEndpoint;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.model.Checkpoint;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two ranks on a ring (threads of this JVM on loopback) train as one process does. */
@Tag("numerical")
class DataParallelTest {
    @TempDir
    Path tmp;

    @TempDir
    static Path shared;

    @org.junit.jupiter.api.BeforeAll
    static void data() throws java.io.IOException {
        TrainJobTest.data = org.distillery.model.TinyPrep.write(shared.resolve("prep"), 200, false);
    }

    /**
     * The exact sum (the default): 2 and 3 ranks (3 share 4 micro-batches unevenly) give the single process's loss
     * curve and weights bit for bit, dropout included, whatever the processor's vector width.
     */
    @Test
    void twoAndThreeRanksGiveTheSingleProcessLossCurveAndWeightsBitForBit() throws Exception {
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(accumulating("dp", ""), TrainSpec.class);
        TrainJobTest.Recorder one = new TrainJobTest.Recorder();
        TrainJob.Result single = new TrainJob(located, TrainJobTest.data, JobContext.of(tmp.resolve("one"), one,
                "test")).run();
        for (int n = 2; n <= 3; n++) {
            List<TrainJobTest.Recorder> recorders = new ArrayList<>();
            List<TrainJob.Result> results = run(located, n, recorders);
            assertEquals(one.metrics.get("train/loss"), recorders.get(0).metrics.get("train/loss"),
                    n + " ranks: the same loss at every step");
            assertEquals(one.metrics.get("train/grad_norm"), recorders.get(0).metrics.get("train/grad_norm"),
                    n + " ranks: the same gradient norm at every step");
            for (String section : List.of(Checkpoint.PARAMS, "adam.m", "adam.v")) {
                assertArrayEquals(Checkpoint.read(single.model()).section(section).toFloatVector(),
                        Checkpoint.read(results.get(0).model()).section(section).toFloatVector(),
                        n + " ranks: " + section + " bit for bit");
            }
            // every step compared the ranks' parameter hashes; the other ranks wrote nothing
            for (int r = 1; r < n; r++) {
                assertEquals(null, results.get(r).model(), "rank " + r + " returns no model");
                assertEquals(false, Files.exists(tmp.resolve(n + "rank" + r).resolve("checkpoints")),
                        "rank 0 alone checkpoints");
                assertEquals(12, results.get(r).stepsRun());
            }
        }
    }

    /** The float sum: two ranks keep in step (their hashes compared every step) and follow the loss curve. */
    @Test
    void withTheFloatSumTwoRanksStayInStepAndFollowTheLossCurve() throws Exception {
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(accumulating("dpf", "sum: float, "),
                TrainSpec.class);
        TrainJobTest.Recorder one = new TrainJobTest.Recorder();
        new TrainJob(located, TrainJobTest.data, JobContext.of(tmp.resolve("onef"), one, "test")).run();
        List<TrainJobTest.Recorder> recorders = new ArrayList<>();
        List<TrainJob.Result> results = run(located, 2, recorders);
        assertEquals(12, results.get(1).stepsRun());
        // The first step starts from the same weights, so its loss differs by the order of its sum alone: a few
        // float ulps of each micro-batch's mean loss (all below 8 here), far below 1e-5.
        long first = one.metrics.get("train/loss").firstKey();
        assertEquals(one.metrics.get("train/loss").get(first), recorders.get(0).metrics.get("train/loss").get(first),
                1e-5);
    }

    /** A spec of 12 steps of 4 micro-batches with dropout, its ranks checked at every step. */
    private Path accumulating(String name, String distributed) throws java.io.IOException {
        Path spec = TrainJobTest.spec(tmp, name, 12, "");
        Files.writeString(spec, Files.readString(spec)
                .replace("training: {steps: 12, batch_size: 8, log_every: 1}",
                        "training: {steps: 12, batch_size: 4, grad_accum: 4, log_every: 1}")
                .replace("block_size: 32}", "block_size: 32, dropout: 0.1}")
                + "distributed: {" + distributed + "check_every: 1}\n");
        return spec;
    }

    /** Runs {@code n} ranks of {@code located} on a loopback ring; their results, and their recorders in {@code out}. */
    private List<TrainJob.Result> run(SpecReader.Located<TrainSpec> located, int n, List<TrainJobTest.Recorder> out)
            throws Exception {
        List<RingEndpoint> endpoints = new ArrayList<>();
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            endpoints.add(RingEndpoint.listen(InetAddress.getLoopbackAddress()));
            addresses.add(endpoints.get(r).address());
            out.add(new TrainJobTest.Recorder());
        }
        byte[] secret = RingEndpoint.newSecret();
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<TrainJob.Result>> ranks = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    try (RingAllReduce ring = endpoints.get(rank).join(rank, addresses, secret,
                            new RingAllReduce.Settings(Duration.ofSeconds(30), Duration.ofSeconds(60)))) {
                        return new TrainJob(located, TrainJobTest.data, JobContext.of(tmp.resolve(n + "rank" + rank),
                                out.get(rank), "test")).across(DataParallel.over(ring)).run();
                    }
                }));
            }
            List<TrainJob.Result> results = new ArrayList<>();
            for (Future<TrainJob.Result> f : ranks) {
                results.add(f.get(5, TimeUnit.MINUTES));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The plateau schedule over two ranks: the lead alone evaluates, and every rank steps with the lead's count of
     * reductions (the ranks' parameter hashes are compared at every step), lowering the rate and stopping as one.
     */
    @Test
    void twoRanksLowerTheRateAndStopAsOne() throws Exception {
        Path spec = TrainJobTest.spec(tmp, "dpp", 200, "distributed: {check_every: 1}");
        Files.writeString(spec, Files.readString(spec)
                .replace("eval: {every: 10, batches: 2}", "eval: {every: 4, batches: 2, patience: 1, min_delta: 100.0}")
                .replace("optimizer: {lr: 0.01, warmup_steps: 5}",
                        "optimizer: {lr: 0.01, min_lr: 0.001, warmup_steps: 0, schedule: plateau, decay: 0.5}"));
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(spec, TrainSpec.class);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<TrainJob.Result>> ranks = ranks(pool, List.of(located, located));
            TrainJob.Result r0 = ranks.get(0).get(5, TimeUnit.MINUTES);
            TrainJob.Result r1 = ranks.get(1).get(5, TimeUnit.MINUTES);
            assertEquals(24, r0.steps(), "rates 0.01, 0.005, 0.0025, 0.00125, 0.001, then the stop");
            assertEquals(24, r1.stepsRun(), "rank 1 stopped at the lead's step");
        } finally {
            pool.shutdownNow();
        }
    }

    /** Runs one TrainJob per spec as the ranks of a ring; each rank's outcome (its result or its error). */
    private List<Future<TrainJob.Result>> ranks(ExecutorService pool, List<SpecReader.Located<TrainSpec>> specs)
            throws java.io.IOException {
        int n = specs.size();
        List<RingEndpoint> endpoints = new ArrayList<>();
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            endpoints.add(RingEndpoint.listen(InetAddress.getLoopbackAddress()));
            addresses.add(endpoints.get(r).address());
        }
        byte[] secret = RingEndpoint.newSecret();
        List<Future<TrainJob.Result>> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            out.add(pool.submit(() -> {
                try (RingAllReduce ring = endpoints.get(rank).join(rank, addresses, secret,
                        new RingAllReduce.Settings(Duration.ofSeconds(30), Duration.ofSeconds(60)))) {
                    return new TrainJob(specs.get(rank), TrainJobTest.data, JobContext.of(tmp.resolve("r" + rank),
                            new TrainJobTest.Recorder(), "test")).across(DataParallel.over(ring)).run();
                }
            }));
        }
        return out;
    }

    private static String failure(Future<?> f) throws InterruptedException, java.util.concurrent.TimeoutException {
        try {
            f.get(2, TimeUnit.MINUTES);
            return "no error";
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause().getMessage();
        }
    }

    /** The names in {@code dir}, sorted; none when it does not exist. */
    private static List<String> names(Path dir) {
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        } catch (java.nio.file.NoSuchFileException e) {
            return List.of();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * A man in the middle on rank 0's connection to rank 1 flips one byte of the fifth gradient rank 0 sends (its
     * first half of the step's sum): rank 1 fails naming rank 0 and the authentication, rank 0 fails as rank 1
     * leaves, and no checkpoint is newer than those written before the flip, so no rank stepped with that gradient.
     */
    @Test
    void aByteFlippedBetweenTheRanksStopsBothBeforeTheAlteredGradientIsUsed() throws Exception {
        Path spec = TrainJobTest.spec(tmp, "mitm", 12, "distributed: {check_every: 1}");
        Files.writeString(spec, Files.readString(spec).replace("checkpoints: {every: 5,", "checkpoints: {every: 2,"));
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(spec, TrainSpec.class);
        RingEndpoint e0 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        RingEndpoint e1 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        InetSocketAddress a0 = e0.address();
        InetSocketAddress a1 = e1.address();
        byte[] secret = RingEndpoint.newSecret();
        Path out0 = tmp.resolve("mitm0");
        AtomicInteger gradients = new AtomicInteger();
        AtomicReference<List<String>> before = new AtomicReference<>();
        // A gradient's half is kilobytes; the start, the loss and the hash checks are a few floats. Step 0 of a
        // call is the reduce-scatter, so rank 0 still waits for the gather that rank 1 will never send.
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (FlippingProxy proxy = FlippingProxy.inPayload(a1,
                m -> m.step() == 0 && m.bytes() >= 4096 && gradients.incrementAndGet() == 5,
                () -> before.set(names(out0.resolve("checkpoints"))))) {
            RingAllReduce.Settings settings = new RingAllReduce.Settings(Duration.ofSeconds(30),
                    Duration.ofSeconds(60));
            Future<TrainJob.Result> r0 = pool.submit(() -> {
                try (RingAllReduce ring = e0.join(0, List.of(a0, proxy.address()), secret, settings)) {
                    return new TrainJob(located, TrainJobTest.data, JobContext.of(out0, new TrainJobTest.Recorder(),
                            "test")).across(DataParallel.over(ring)).run();
                }
            });
            Future<TrainJob.Result> r1 = pool.submit(() -> {
                try (RingAllReduce ring = e1.join(1, List.of(a0, a1), secret, settings)) {
                    return new TrainJob(located, TrainJobTest.data, JobContext.of(tmp.resolve("mitm1"),
                            new TrainJobTest.Recorder(), "test")).across(DataParallel.over(ring)).run();
                }
            });
            String m1 = failure(r1);
            String m0 = failure(r0);
            assertTrue(proxy.flipped(), "the proxy altered the stream");
            assertTrue(m1.contains("rank 1 of 2: the message from rank 0 at " + a0) && m1.contains(
                    "fails its authentication") && !m1.contains("\n"), m1);
            assertTrue(!m0.equals("no error") && m0.contains("rank 0 of 2") && m0.contains("rank 1"), m0);
            assertEquals(List.of("step-00000002.ckpt", "step-00000004.ckpt"), before.get(),
                    "the flip came in step 5, after two checkpoints");
            assertEquals(before.get(), names(out0.resolve("checkpoints")), "no checkpoint after the flip");
            assertTrue(!Files.exists(out0.resolve(TrainJob.MODEL_FILE)), "no model written");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void ranksWhoseParametersDifferFailNamingTheStep() throws Exception {
        Path spec = TrainJobTest.spec(tmp, "diverge", 4, "");
        SpecReader.Located<TrainSpec> a = SpecReader.readLocated(spec, TrainSpec.class);
        SpecReader.Located<TrainSpec> b = SpecReader.readLocated(spec, TrainSpec.class, List.of("seed=7"));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<TrainJob.Result>> ranks = ranks(pool, List.of(a, b));
            for (Future<TrainJob.Result> f : ranks) {
                String message = failure(f);
                assertTrue(message.startsWith("the ranks' parameters diverged at step 0: rank "), message);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRankThatCannotStartStopsTheOthersWithItsError() throws Exception {
        Path spec = TrainJobTest.spec(tmp, "start", 4, "");
        SpecReader.Located<TrainSpec> good = SpecReader.readLocated(spec, TrainSpec.class);
        SpecReader.Located<TrainSpec> bad = SpecReader.readLocated(spec, TrainSpec.class,
                List.of("model.block_size=100000"));
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<TrainJob.Result>> ranks = ranks(pool, List.of(good, bad));
            String first = failure(ranks.get(0));
            String second = failure(ranks.get(1));
            assertEquals("rank 0: 1 other rank(s) of 2 could not start; their errors say why", first);
            assertTrue(second.contains("model.block_size is 100000, but the longest train shard"), second);
        } finally {
            pool.shutdownNow();
        }
    }

    private static float[] weights(Path model) {
        return Checkpoint.read(model).section(Checkpoint.PARAMS).toFloatVector();
    }
}
