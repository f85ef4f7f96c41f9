package org.distillery.core.collective;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.List;

/**
 * The sum of a float buffer over N ranks, in place, as NCCL and Gloo compute it on a ring: reduce-scatter (N - 1
 * steps, each rank sends one chunk to its right neighbour while it receives and adds one from its left), then
 * all-gather (N - 1 steps passing the reduced chunks on). Each rank moves 2(N - 1)/N of the buffer, whatever N.
 *
 * <p>Both directions of a step run at once on one thread (non-blocking channels and a selector), through direct
 * buffers allocated once; a neighbour that stops answering for {@link Settings#ioTimeout()} or closes its end fails
 * the call naming it, so no rank waits forever on a dead one. Connections are made and authenticated by
 * {@link RingEndpoint}.
 */
public final class RingAllReduce implements AutoCloseable {
    /** How long to wait for a neighbour: to connect, and for each transfer to make progress. */
    public record Settings(java.time.Duration connectTimeout, java.time.Duration ioTimeout) {
        public static Settings defaults() {
            return new Settings(java.time.Duration.ofSeconds(60), java.time.Duration.ofSeconds(120));
        }
    }

    private final int rank;
    private final int ranks;
    private final SocketChannel left;
    private final SocketChannel right;
    private final InetSocketAddress leftAddress;
    private final InetSocketAddress rightAddress;
    private final Settings settings;
    private final Selector selector;
    private final SelectionKey readKey;
    private final SelectionKey writeKey;
    private ByteBuffer sendBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);
    private ByteBuffer receiveBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);

    RingAllReduce(int rank, int ranks, SocketChannel left, SocketChannel right, List<InetSocketAddress> addresses,
                  Settings settings) throws IOException {
        this.rank = rank;
        this.ranks = ranks;
        this.left = left;
        this.right = right;
        this.leftAddress = ranks > 1 ? addresses.get(Math.floorMod(rank - 1, ranks)) : null;
        this.rightAddress = ranks > 1 ? addresses.get((rank + 1) % ranks) : null;
        this.settings = settings;
        if (ranks > 1) {
            this.selector = Selector.open();
            left.configureBlocking(false);
            right.configureBlocking(false);
            this.readKey = left.register(selector, 0);
            this.writeKey = right.register(selector, 0);
        } else {
            this.selector = null;
            this.readKey = null;
            this.writeKey = null;
        }
    }

    public int rank() {
        return rank;
    }

    public int ranks() {
        return ranks;
    }

    /** Replaces each element of {@code data} by its sum over the ranks (every rank passes the same length). */
    public void sum(float[] data) throws IOException {
        FloatBuffer b = FloatBuffer.wrap(data);
        sum(b);
    }

    /**
     * Replaces each of the {@code remaining()} floats of {@code data} (from its position) by its sum over the ranks;
     * {@code data} may be a view of native memory (an ND4J buffer's). Every rank passes the same length.
     */
    public void sum(FloatBuffer data) throws IOException {
        int n = data.remaining();
        if (ranks == 1 || n == 0) {
            return;
        }
        int base = data.position();
        int largest = chunkLength(n, 0);
        ensureCapacity(largest);
        // Reduce-scatter: after step s, rank r holds the sum of s + 2 ranks' values in chunk (r - s - 1).
        for (int s = 0; s < ranks - 1; s++) {
            int send = Math.floorMod(rank - s, ranks);
            int receive = Math.floorMod(rank - s - 1, ranks);
            FloatBuffer in = exchange(data, base, n, send, receive);
            int at = base + chunkStart(n, receive);
            int len = chunkLength(n, receive);
            for (int i = 0; i < len; i++) {
                data.put(at + i, data.get(at + i) + in.get(i));
            }
        }
        // All-gather: rank r starts with the whole sum of chunk (r + 1) and passes what it last received.
        for (int s = 0; s < ranks - 1; s++) {
            int send = Math.floorMod(rank + 1 - s, ranks);
            int receive = Math.floorMod(rank - s, ranks);
            FloatBuffer in = exchange(data, base, n, send, receive);
            data.put(base + chunkStart(n, receive), in, 0, chunkLength(n, receive));
        }
    }

    /** Chunk {@code c} of {@code n} floats split over the ranks: the first {@code n % ranks} are one longer. */
    int chunkLength(int n, int c) {
        return n / ranks + (c < n % ranks ? 1 : 0);
    }

    int chunkStart(int n, int c) {
        return c * (n / ranks) + Math.min(c, n % ranks);
    }

    private void ensureCapacity(int floats) {
        int bytes = floats * Float.BYTES;
        if (sendBuffer.capacity() < bytes) { // grows to the largest chunk once, then is reused every step
            sendBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            receiveBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /**
     * Sends chunk {@code send} to the right neighbour while receiving chunk {@code receive} from the left one; both
     * sides agree on lengths, so no framing is needed. Returns the received floats.
     */
    private FloatBuffer exchange(FloatBuffer data, int base, int n, int send, int receive) throws IOException {
        int sendLen = chunkLength(n, send);
        sendBuffer.clear();
        sendBuffer.asFloatBuffer().put(0, data, base + chunkStart(n, send), sendLen);
        sendBuffer.limit(sendLen * Float.BYTES);
        receiveBuffer.clear();
        receiveBuffer.limit(chunkLength(n, receive) * Float.BYTES);
        readKey.interestOps(receiveBuffer.hasRemaining() ? SelectionKey.OP_READ : 0);
        writeKey.interestOps(sendBuffer.hasRemaining() ? SelectionKey.OP_WRITE : 0);
        long timeoutMs = settings.ioTimeout().toMillis();
        try {
            while (sendBuffer.hasRemaining() || receiveBuffer.hasRemaining()) {
                if (selector.select(timeoutMs) == 0) {
                    throw new CollectiveException("rank " + rank + " of " + ranks + ": no progress for "
                            + settings.ioTimeout().toSeconds() + " s " + (receiveBuffer.hasRemaining()
                            ? "receiving from rank " + Math.floorMod(rank - 1, ranks) + " at " + leftAddress
                            : "sending to rank " + (rank + 1) % ranks + " at " + rightAddress)
                            + ": is it still running?");
                }
                selector.selectedKeys().clear();
                if (receiveBuffer.hasRemaining() && left.read(receiveBuffer) < 0) {
                    throw new CollectiveException("rank " + rank + " of " + ranks + ": rank "
                            + Math.floorMod(rank - 1, ranks) + " at " + leftAddress + " closed the connection");
                }
                if (sendBuffer.hasRemaining()) {
                    right.write(sendBuffer);
                }
                readKey.interestOps(receiveBuffer.hasRemaining() ? SelectionKey.OP_READ : 0);
                writeKey.interestOps(sendBuffer.hasRemaining() ? SelectionKey.OP_WRITE : 0);
            }
            receiveBuffer.flip();
            return receiveBuffer.asFloatBuffer();
        } catch (CollectiveException e) {
            throw e;
        } catch (IOException e) {
            throw new CollectiveException("rank " + rank + " of " + ranks + ": the ring broke (left rank "
                    + Math.floorMod(rank - 1, ranks) + " at " + leftAddress + ", right rank " + (rank + 1) % ranks
                    + " at " + rightAddress + "): " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        try (Selector s = selector; SocketChannel l = left; SocketChannel r = right) {
            // each closed (in reverse order), nulls skipped
        }
    }
}
