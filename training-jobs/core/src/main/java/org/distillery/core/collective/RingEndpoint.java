package org.distillery.core.collective;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One rank's place in a ring: a listening socket on the rank's own address (not every interface), whose address the
 * ranks exchange (Spark's {@code BarrierTaskContext.allGather}), then {@link #join} connects to the right neighbour
 * and accepts the left one.
 *
 * <p>Only the job's ranks get in: both ends of a connection prove they hold the stage attempt's random secret by an
 * HMAC-SHA256 challenge-response over fresh nonces (the secret itself never crosses the wire), and the acceptor
 * checks that the caller is the rank it expects. A connection that fails is closed and logged and the endpoint goes
 * on waiting for its neighbour; once the neighbour is in, the listening socket closes, so later strangers are
 * refused by the operating system.
 */
public final class RingEndpoint implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RingEndpoint.class.getName());
    private static final SecureRandom RANDOM = new SecureRandom();

    private final ServerSocketChannel server;
    private volatile HandshakeGate gate;

    private RingEndpoint(ServerSocketChannel server) {
        this.server = server;
    }

    /** Listens on an ephemeral port of {@code address} (the executor's host, as Spark knows it). */
    public static RingEndpoint listen(InetAddress address) throws IOException {
        ServerSocketChannel s = ServerSocketChannel.open();
        try {
            s.bind(new InetSocketAddress(address, 0));
        } catch (IOException e) {
            s.close();
            throw new CollectiveException("cannot listen on " + address.getHostAddress() + ": " + e.getMessage(), e);
        }
        return new RingEndpoint(s);
    }

    /** A fresh secret for one attempt of a stage: 32 random bytes. */
    public static byte[] newSecret() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return b;
    }

    public InetSocketAddress address() throws IOException {
        return (InetSocketAddress) server.getLocalAddress();
    }

    /** Connections closed because they could not prove they belong to the ring (for tests and logs). */
    public int refused() {
        HandshakeGate g = gate;
        return g == null ? 0 : g.refused();
    }

    /**
     * Joins the ring of {@code addresses} (every rank's endpoint, by rank) as {@code rank}: connects to rank + 1 and
     * accepts rank - 1, both proven to hold {@code secret}. Fails within {@code settings.connectTimeout()} when a
     * neighbour does not come, naming it.
     */
    public RingAllReduce join(int rank, List<InetSocketAddress> addresses, byte[] secret,
                              RingAllReduce.Settings settings) throws IOException {
        int n = addresses.size();
        if (rank < 0 || rank >= n) {
            throw new IllegalArgumentException("rank " + rank + " of " + n);
        }
        if (n == 1) {
            server.close();
            return new RingAllReduce(0, 1, null, null, addresses, settings);
        }
        int leftRank = Math.floorMod(rank - 1, n);
        int rightRank = (rank + 1) % n;
        long deadline = System.nanoTime() + settings.connectTimeout().toNanos();
        CompletableFuture<Link> left = acceptLeft(rank, leftRank, secret, deadline);
        Link right = null;
        try {
            right = connectRight(rank, rightRank, addresses.get(rightRank), secret, deadline);
            Link l = left.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return new RingAllReduce(rank, n, l, right, addresses, settings);
        } catch (TimeoutException e) {
            closeQuietly(right == null ? null : right.channel());
            throw new CollectiveException("rank " + rank + " of " + n + ": rank " + leftRank + " at "
                    + addresses.get(leftRank) + " did not connect in " + settings.connectTimeout().toSeconds() + " s");
        } catch (ExecutionException e) {
            closeQuietly(right == null ? null : right.channel());
            Throwable cause = e.getCause();
            throw cause instanceof CollectiveException c ? c
                    : new CollectiveException("rank " + rank + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            closeQuietly(right == null ? null : right.channel());
            Thread.currentThread().interrupt();
            throw new CollectiveException("rank " + rank + ": interrupted while joining the ring", e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(right == null ? null : right.channel());
            left.cancel(true);
            throw e;
        } finally {
            stopListening(); // the neighbour is in, or the join failed: nobody else may connect
        }
    }

    /**
     * Lets in the first connection that proves it is rank {@code expected}; others are closed and logged. The
     * handshakes run on one {@link HandshakeGate} thread, none blocking, so strangers that connect and stay silent
     * hold up nobody and cost no threads.
     */
    private CompletableFuture<Link> acceptLeft(int rank, int expected, byte[] secret, long deadline) throws IOException {
        CompletableFuture<Link> left = new CompletableFuture<>();
        String where = String.valueOf(server.getLocalAddress());
        gate = HandshakeGate.open(server, new HandshakeGate.Terms(rank, expected, secret,
                Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))), link -> {
                    if (!left.complete(link)) {
                        closeQuietly(link.channel()); // a second connection that proves itself: the first one stays
                    }
                }, () -> left.completeExceptionally(new CollectiveException("rank " + rank + ": stopped waiting for"
                        + " rank " + expected + " on " + where)));
        return left;
    }

    /** Closes the gate (its pending handshakes), then the port, so nobody else may connect. */
    private void stopListening() throws IOException {
        HandshakeGate g = gate;
        if (g != null) {
            g.close();
        }
        server.close();
    }

    /** Connects to the right neighbour (retrying while it is not listening yet) and runs the handshake. */
    private static Link connectRight(int rank, int rightRank, InetSocketAddress to, byte[] secret, long deadline)
            throws IOException {
        IOException last = null;
        while (System.nanoTime() < deadline) {
            SocketChannel c = SocketChannel.open();
            try {
                c.socket().connect(to, (int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                c.socket().setSoTimeout((int) Math.max(1000, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                c.socket().setTcpNoDelay(true);
                byte[] key = Handshake.call(c, rank, rightRank, secret, to);
                c.socket().setSoTimeout(0);
                return new Link(c, key);
            } catch (java.net.ConnectException | java.net.NoRouteToHostException e) {
                last = e;
                closeQuietly(c);
                sleep(100);
            } catch (SocketTimeoutException e) {
                closeQuietly(c);
                throw new CollectiveException("rank " + rank + ": rank " + rightRank + " at " + to
                        + " did not answer in time", e);
            } catch (IOException | RuntimeException e) {
                closeQuietly(c);
                throw e;
            }
        }
        throw new CollectiveException("rank " + rank + ": cannot reach rank " + rightRank + " at " + to
                + (last != null ? " (" + last.getMessage() + ")" : ""), last);
    }

    /** A neighbour's proven connection and its traffic key, which authenticates every message on it. */
    record Link(SocketChannel channel, byte[] key) {
    }

    static String remote(SocketChannel c) {
        try {
            return String.valueOf(c.getRemoteAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void closeQuietly(SocketChannel c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                // closing a connection that failed anyway
            }
        }
    }

    @Override
    public void close() throws IOException {
        stopListening();
    }
}
