package org.distillery.core.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The ring all-reduce on loopback, its ranks as threads: sums, faults and strangers. */
class RingAllReduceTest {
    private static final RingAllReduce.Settings FAST = new RingAllReduce.Settings(Duration.ofSeconds(10),
            Duration.ofSeconds(2));
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    /** What each rank does once its ring is formed; returns what it wants checked. */
    @FunctionalInterface
    interface Work<T> {
        T run(RingAllReduce ring) throws Exception;
    }

    /** Runs {@code ranks} ranks that listen, exchange addresses, join and work; their results by rank. */
    private <T> List<Future<T>> ring(int ranks, byte[] secret, Work<T> work) throws IOException {
        List<RingEndpoint> endpoints = new ArrayList<>();
        List<InetSocketAddress> addresses = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            RingEndpoint e = RingEndpoint.listen(InetAddress.getLoopbackAddress());
            endpoints.add(e);
            addresses.add(e.address());
        }
        List<Future<T>> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            out.add(pool.submit(() -> {
                try (RingAllReduce ring = endpoints.get(rank).join(rank, addresses, secret, FAST)) {
                    return work.run(ring);
                }
            }));
        }
        return out;
    }

    @Test
    void sumsAreExactForIntegersAtSizesThatAreNoMultipleOfTheRanks() throws Exception {
        for (int ranks = 1; ranks <= 4; ranks++) {
            for (int n : new int[] {0, 1, 3, 7, 1000, (1 << 18) + 5}) {
                int size = n;
                int count = ranks;
                List<Future<float[]>> results = ring(ranks, RingEndpoint.newSecret(), ring -> {
                    float[] data = new float[size];
                    for (int i = 0; i < size; i++) {
                        data[i] = (ring.rank() + 1) * 1000 + i % 997; // integers: float sums are exact
                    }
                    ring.sum(data);
                    return data;
                });
                float[] want = new float[size];
                for (int i = 0; i < size; i++) {
                    for (int r = 0; r < count; r++) {
                        want[i] += (r + 1) * 1000 + i % 997;
                    }
                }
                for (Future<float[]> f : results) {
                    assertArrayEquals(want, f.get(30, TimeUnit.SECONDS), ranks + " ranks, " + size + " floats");
                }
            }
        }
    }

    @Test
    void floatSumsAreWithinRoundingAndEveryRankEndsWithTheSameBits() throws Exception {
        int ranks = 3;
        int size = 100_003;
        List<Future<float[]>> results = ring(ranks, RingEndpoint.newSecret(), ring -> {
            float[] data = new float[size];
            Random random = new Random(ring.rank());
            for (int i = 0; i < size; i++) {
                data[i] = (float) random.nextGaussian();
            }
            java.nio.FloatBuffer direct = java.nio.ByteBuffer.allocateDirect(size * 4)
                    .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer().put(data);
            direct.flip(); // native memory, as an ND4J gradient buffer is
            ring.sum(direct);
            float[] back = new float[size];
            direct.get(0, back);
            return back;
        });
        double[] want = new double[size];
        for (int r = 0; r < ranks; r++) {
            Random random = new Random(r);
            for (int i = 0; i < size; i++) {
                want[i] += (float) random.nextGaussian();
            }
        }
        float[] first = results.get(0).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < size; i++) {
            assertEquals(want[i], first[i], 1e-5 * (1 + Math.abs(want[i])), "element " + i);
        }
        for (Future<float[]> f : results) {
            assertArrayEquals(first, f.get(30, TimeUnit.SECONDS), "the ranks agree bit for bit");
        }
    }

    @Test
    void aRankThatDiesFailsTheOthersInsteadOfHangingThem() throws Exception {
        List<Future<String>> results = ring(3, RingEndpoint.newSecret(), ring -> {
            float[] data = new float[1 << 16];
            ring.sum(data); // all there once
            if (ring.rank() == 1) {
                ring.close(); // rank 1 dies
                return "died";
            }
            long t0 = System.nanoTime();
            IOException e = assertThrows(IOException.class, () -> {
                for (int i = 0; i < 100; i++) {
                    ring.sum(data);
                }
            });
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10), "failed only after "
                    + (System.nanoTime() - t0) / 1e9 + " s");
            return e.getMessage();
        });
        String r0 = results.get(0).get(30, TimeUnit.SECONDS);
        String r2 = results.get(2).get(30, TimeUnit.SECONDS);
        assertTrue(r0.startsWith("rank 0 of 3: ") && r2.startsWith("rank 2 of 3: "), r0 + " / " + r2);
        assertTrue((r0 + r2).contains("rank 1 at "), "the dead rank is named: " + r0 + " / " + r2);
    }

    @Test
    void aNeighbourThatNeverComesIsNamedWithinTheTimeout() throws Exception {
        RingEndpoint alone = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        RingEndpoint absent = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        List<InetSocketAddress> addresses = List.of(alone.address(), absent.address());
        RingAllReduce.Settings quick = new RingAllReduce.Settings(Duration.ofSeconds(2), Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        CollectiveException e = assertThrows(CollectiveException.class,
                () -> alone.join(0, addresses, RingEndpoint.newSecret(), quick));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(8), e.getMessage());
        assertTrue(e.getMessage().startsWith("rank 0: rank 1 at " + absent.address()), e.getMessage());
        absent.close();
    }

    /** Strangers: a silent one, one with the wrong secret, one after the ring formed; none gets in. */
    @Test
    void onlyTheJobsRanksGetIn() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        RingEndpoint e0 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        RingEndpoint e1 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        List<InetSocketAddress> addresses = List.of(e0.address(), e1.address());
        SocketChannel silent = SocketChannel.open(e0.address()); // connects and says nothing
        Future<float[]> r0 = pool.submit(() -> {
            try (RingAllReduce ring = e0.join(0, addresses, secret, FAST)) {
                float[] d = {1, 2, 3};
                ring.sum(d);
                return d;
            }
        });
        // A stranger with another secret tries to join as rank 1 before rank 1 does.
        RingEndpoint stranger = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        Future<?> impostor = pool.submit(() -> stranger.join(1, List.of(e0.address(), stranger.address()),
                RingEndpoint.newSecret(), new RingAllReduce.Settings(Duration.ofSeconds(3), Duration.ofSeconds(1))));
        ExecutionException refused = assertThrows(ExecutionException.class, () -> impostor.get(30, TimeUnit.SECONDS));
        assertTrue(refused.getCause().getMessage().contains("refused rank 1"), refused.getCause().getMessage());
        Future<float[]> r1 = pool.submit(() -> {
            try (RingAllReduce ring = e1.join(1, addresses, secret, FAST)) {
                float[] d = {10, 20, 30};
                ring.sum(d);
                return d;
            }
        });
        assertArrayEquals(new float[] {11, 22, 33}, r0.get(30, TimeUnit.SECONDS), "the run is unaffected");
        assertArrayEquals(new float[] {11, 22, 33}, r1.get(30, TimeUnit.SECONDS));
        assertTrue(e0.refused() >= 1, "the impostor was refused and counted");
        assertThrows(IOException.class, () -> SocketChannel.open(e0.address()), "the port is closed once the ring is");
        silent.close();
    }

    @Test
    void longSumsAreExactWhateverTheRanksOrder() throws Exception {
        int size = 10_007;
        for (int ranks = 2; ranks <= 4; ranks++) {
            int count = ranks;
            List<Future<long[]>> results = ring(ranks, RingEndpoint.newSecret(), ring -> {
                long[] data = new Random(ring.rank()).longs(size, -(1L << 60), 1L << 60).toArray();
                java.nio.LongBuffer direct = java.nio.ByteBuffer.allocateDirect(size * 8)
                        .order(java.nio.ByteOrder.nativeOrder()).asLongBuffer().put(data);
                direct.flip();
                ring.sum(direct);
                long[] back = new long[size];
                direct.get(0, back);
                return back;
            });
            long[] want = new long[size];
            for (int r = 0; r < count; r++) {
                long[] d = new Random(r).longs(size, -(1L << 60), 1L << 60).toArray();
                for (int i = 0; i < size; i++) {
                    want[i] += d[i];
                }
            }
            for (Future<long[]> f : results) {
                assertArrayEquals(want, f.get(30, TimeUnit.SECONDS), ranks + " ranks");
            }
        }
    }

    /** Before framing, ranks that passed different lengths desynchronized silently; now both lengths are named. */
    @Test
    void ranksThatPassDifferentLengthsFailNamingBothLengths() throws Exception {
        List<Future<String>> results = ring(2, RingEndpoint.newSecret(), ring -> {
            float[] data = new float[ring.rank() == 0 ? 10 : 12];
            return assertThrows(CollectiveException.class, () -> ring.sum(data)).getMessage();
        });
        String r0 = results.get(0).get(30, TimeUnit.SECONDS);
        String r1 = results.get(1).get(30, TimeUnit.SECONDS);
        assertTrue(r0.contains("rank 1 at ") && r0.contains("sent a chunk of 24 bytes where this rank expects 20"), r0);
        assertTrue(r1.contains("rank 0 at ") && r1.contains("sent a chunk of 20 bytes where this rank expects 24"), r1);
    }

    /**
     * A man in the middle between rank 0 and rank 1 flips one byte of the first gradient chunk: rank 1 fails naming
     * rank 0 and keeps its values as they were, and rank 0 fails too: no rank goes on with a sum.
     */
    @Test
    void aByteFlippedInTransitFailsTheSumNamingTheRankItCameFrom() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        RingEndpoint e0 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        RingEndpoint e1 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        InetSocketAddress a0 = e0.address();
        InetSocketAddress a1 = e1.address();
        // The caller's handshake (its number, nonce, proof), then the message header, then the payload.
        try (FlippingProxy proxy = FlippingProxy.atByte(a1, FlippingProxy.HANDSHAKE + RingAllReduce.HEADER + 5)) {
            float[] mine = {1, 2, 3, 4, 5, 6};
            Future<float[]> r0 = pool.submit(() -> {
                try (RingAllReduce ring = e0.join(0, List.of(a0, proxy.address()), secret, FAST)) {
                    float[] d = {1, 2, 3, 4, 5, 6};
                    ring.sum(d);
                    return d;
                }
            });
            Future<String> r1 = pool.submit(() -> {
                try (RingAllReduce ring = e1.join(1, List.of(a0, a1), secret, FAST)) {
                    CollectiveException e = assertThrows(CollectiveException.class, () -> ring.sum(mine));
                    return e.getMessage();
                }
            });
            String m1 = r1.get(30, TimeUnit.SECONDS);
            assertTrue(m1.startsWith("rank 1 of 2: the message from rank 0 at " + a0) && m1.contains(
                    "fails its authentication"), m1);
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, mine, "nothing of the altered chunk was added");
            ExecutionException e = assertThrows(ExecutionException.class, () -> r0.get(30, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof CollectiveException, String.valueOf(e.getCause()));
            assertTrue(proxy.flipped(), "the proxy altered the stream");
        }
    }
}
