package org.distillery.core.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A rank's endpoint under a crowd of connections that never say a word. */
@Timeout(value = 120, unit = TimeUnit.SECONDS) // only catches a hang: the test takes a second or two
class RingEndpointTest {
    /** Long enough that the silent connections' handshakes never time out while the test runs. */
    private static final RingAllReduce.Settings PATIENT = new RingAllReduce.Settings(Duration.ofSeconds(90),
            Duration.ofSeconds(90));
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    @Test
    void fiftySilentConnectionsKeepNeitherTheLeftNeighbourOutNorMoreThanOneThreadBusy() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        RingEndpoint e0 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        RingEndpoint e1 = RingEndpoint.listen(InetAddress.getLoopbackAddress());
        List<InetSocketAddress> addresses = List.of(e0.address(), e1.address());
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        Future<float[]> r0 = pool.submit(() -> {
            try (RingAllReduce ring = e0.join(0, addresses, secret, PATIENT)) {
                float[] d = {1, 2, 3};
                ring.sum(d);
                return d;
            }
        });
        List<SocketChannel> silent = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            silent.add(SocketChannel.open(e0.address())); // connects and says nothing
        }
        while (e0.refused() < 50 - HandshakeGate.MAX_PENDING) { // the oldest past the cap are dropped at once
            Thread.sleep(10);
        }
        assertEquals(List.of(HandshakeGate.THREAD_PREFIX + "rank-0"), RunRelayTest.ours(before),
                "one thread for all of them");
        long t0 = System.nanoTime();
        Future<float[]> r1 = pool.submit(() -> {
            try (RingAllReduce ring = e1.join(1, addresses, secret, PATIENT)) {
                float[] d = {10, 20, 30};
                ring.sum(d);
                return d;
            }
        });
        assertArrayEquals(new float[] {11, 22, 33}, r0.get(60, TimeUnit.SECONDS), "rank 1 got in");
        assertArrayEquals(new float[] {11, 22, 33}, r1.get(60, TimeUnit.SECONDS));
        assertTrue(System.nanoTime() - t0 < PATIENT.connectTimeout().toNanos(), "before any handshake timed out");
        assertTrue(e0.refused() >= 50 - HandshakeGate.MAX_PENDING, "refused: " + e0.refused());
        assertEquals(List.of(), RunRelayTest.ours(before), "the gates stopped with the joins");
        for (int i = 0; i < silent.size(); i++) { // the pending ones closed when rank 1 was in
            RunRelayTest.assertClosedByTheOtherEnd(silent.get(i), "silent connection " + i);
            silent.get(i).close();
        }
    }
}
