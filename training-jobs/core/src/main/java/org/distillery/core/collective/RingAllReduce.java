package org.distillery.core.collective;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The sum of a float or long buffer over N ranks, in place, as NCCL and Gloo compute it on a ring: reduce-scatter
 * (N - 1 steps, each rank sends one chunk to its right neighbour while it receives and adds one from its left), then
 * all-gather (N - 1 steps passing the reduced chunks on). Each rank moves 2(N - 1)/N of the buffer, whatever N.
 *
 * <p>Both directions of a step run at once on one thread (non-blocking channels and a selector), through direct
 * buffers allocated once; a neighbour that stops answering for {@link Settings#ioTimeout()} or closes its end fails
 * the call naming it, so no rank waits forever on a dead one. Connections are made and authenticated by
 * {@link RingEndpoint}.
 *
 * <p>Every message is framed and authenticated: a header with the call's number, the step within it and the payload's
 * length, then the payload, then an HMAC-SHA256 tag over both under the connection's traffic key (fresh per
 * connection, see {@link Handshake}). A rank that passes another length than its neighbour fails at once naming both
 * lengths, rather than desynchronizing; a message altered, replayed or reordered in transit fails its check before
 * a single value of it is added, naming the rank it came from.
 */
public final class RingAllReduce implements AutoCloseable {
    /** How long to wait for a neighbour: to connect, and for each transfer to make progress. */
    public record Settings(java.time.Duration connectTimeout, java.time.Duration ioTimeout) {
        public static Settings defaults() {
            return new Settings(java.time.Duration.ofSeconds(60), java.time.Duration.ofSeconds(120));
        }
    }

    /** Call number (8 bytes), step within the call (4), payload bytes (4). */
    static final int HEADER = 16;
    static final int TAG = 32;

    private final int rank;
    private final int ranks;
    private final SocketChannel left;
    private final SocketChannel right;
    private final InetSocketAddress leftAddress;
    private final InetSocketAddress rightAddress;
    private final Mac sendMac;
    private final Mac receiveMac;
    private final Settings settings;
    private final Selector selector;
    private final SelectionKey readKey;
    private final SelectionKey writeKey;
    private ByteBuffer sendBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);
    private ByteBuffer receiveBuffer = ByteBuffer.allocateDirect(0).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] tag = new byte[TAG];
    /** Sums this ring has run: every message names its call, so ranks that fall out of step are caught. */
    private long calls;

    RingAllReduce(int rank, int ranks, RingEndpoint.Link left, RingEndpoint.Link right,
                  List<InetSocketAddress> addresses, Settings settings) throws IOException {
        this.rank = rank;
        this.ranks = ranks;
        this.left = left == null ? null : left.channel();
        this.right = right == null ? null : right.channel();
        this.leftAddress = ranks > 1 ? addresses.get(Math.floorMod(rank - 1, ranks)) : null;
        this.rightAddress = ranks > 1 ? addresses.get((rank + 1) % ranks) : null;
        this.settings = settings;
        if (ranks > 1) {
            this.sendMac = mac(right.key());
            this.receiveMac = mac(left.key());
            this.selector = Selector.open();
            this.left.configureBlocking(false);
            this.right.configureBlocking(false);
            this.readKey = this.left.register(selector, 0);
            this.writeKey = this.right.register(selector, 0);
        } else {
            this.sendMac = null;
            this.receiveMac = null;
            this.selector = null;
            this.readKey = null;
            this.writeKey = null;
        }
    }

    private static Mac mac(byte[] key) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(key, "HmacSHA256"));
            return m;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
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
        sum(FloatBuffer.wrap(data));
    }

    /**
     * Replaces each of the {@code remaining()} floats of {@code data} (from its position) by its sum over the ranks;
     * {@code data} may be a view of native memory (an ND4J buffer's). Every rank passes the same length.
     */
    public void sum(FloatBuffer data) throws IOException {
        reduce(new Floats(data));
    }

    /**
     * Replaces each of the {@code remaining()} longs of {@code data} (from its position) by its sum over the ranks,
     * exactly (two's complement, as Java adds longs): the same bits whatever the ranks' order.
     */
    public void sum(LongBuffer data) throws IOException {
        reduce(new Longs(data));
    }

    /** The values of one sum, floats or longs, moved through little-endian byte buffers. */
    private interface Values {
        int length();

        int bytes();

        /** Writes values [from, from + len) into {@code out} from its position 0. */
        void write(int from, int len, ByteBuffer out);

        /** Adds {@code len} values of {@code in} (from its position 0) to values [at, at + len). */
        void add(int at, int len, ByteBuffer in);

        /** Replaces values [at, at + len) by those of {@code in}. */
        void set(int at, int len, ByteBuffer in);
    }

    private record Floats(FloatBuffer data) implements Values {
        @Override
        public int length() {
            return data.remaining();
        }

        @Override
        public int bytes() {
            return Float.BYTES;
        }

        @Override
        public void write(int from, int len, ByteBuffer out) {
            out.asFloatBuffer().put(0, data, data.position() + from, len);
        }

        @Override
        public void add(int at, int len, ByteBuffer in) {
            FloatBuffer f = in.asFloatBuffer();
            int base = data.position() + at;
            for (int i = 0; i < len; i++) {
                data.put(base + i, data.get(base + i) + f.get(i));
            }
        }

        @Override
        public void set(int at, int len, ByteBuffer in) {
            data.put(data.position() + at, in.asFloatBuffer(), 0, len);
        }
    }

    private record Longs(LongBuffer data) implements Values {
        @Override
        public int length() {
            return data.remaining();
        }

        @Override
        public int bytes() {
            return Long.BYTES;
        }

        @Override
        public void write(int from, int len, ByteBuffer out) {
            out.asLongBuffer().put(0, data, data.position() + from, len);
        }

        @Override
        public void add(int at, int len, ByteBuffer in) {
            LongBuffer l = in.asLongBuffer();
            int base = data.position() + at;
            for (int i = 0; i < len; i++) {
                data.put(base + i, data.get(base + i) + l.get(i));
            }
        }

        @Override
        public void set(int at, int len, ByteBuffer in) {
            data.put(data.position() + at, in.asLongBuffer(), 0, len);
        }
    }

    private void reduce(Values data) throws IOException {
        int n = data.length();
        if (ranks == 1) {
            return;
        }
        long call = calls++; // every rank counts its calls, empty ones too, so their messages keep in step
        ensureCapacity(chunkLength(n, 0) * data.bytes());
        int step = 0;
        // Reduce-scatter: after step s, rank r holds the sum of s + 2 ranks' values in chunk (r - s - 1).
        for (int s = 0; s < ranks - 1; s++) {
            int receive = Math.floorMod(rank - s - 1, ranks);
            ByteBuffer in = exchange(data, n, call, step++, Math.floorMod(rank - s, ranks), receive);
            data.add(chunkStart(n, receive), chunkLength(n, receive), in);
        }
        // All-gather: rank r starts with the whole sum of chunk (r + 1) and passes what it last received.
        for (int s = 0; s < ranks - 1; s++) {
            int receive = Math.floorMod(rank - s, ranks);
            ByteBuffer in = exchange(data, n, call, step++, Math.floorMod(rank + 1 - s, ranks), receive);
            data.set(chunkStart(n, receive), chunkLength(n, receive), in);
        }
    }

    /** Chunk {@code c} of {@code n} values split over the ranks: the first {@code n % ranks} are one longer. */
    int chunkLength(int n, int c) {
        return n / ranks + (c < n % ranks ? 1 : 0);
    }

    int chunkStart(int n, int c) {
        return c * (n / ranks) + Math.min(c, n % ranks);
    }

    private void ensureCapacity(int payload) {
        int bytes = HEADER + payload + TAG;
        if (sendBuffer.capacity() < bytes) { // grows to the largest message once, then is reused every step
            sendBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            receiveBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /**
     * Sends chunk {@code send} to the right neighbour while receiving chunk {@code receive} from the left one, each
     * as one framed, authenticated message. Returns the received payload (little-endian, from position 0), checked.
     */
    private ByteBuffer exchange(Values data, int n, long call, int step, int send, int receive) throws IOException {
        int sendBytes = chunkLength(n, send) * data.bytes();
        sendBuffer.clear();
        sendBuffer.putLong(0, call).putInt(8, step).putInt(12, sendBytes);
        data.write(chunkStart(n, send), chunkLength(n, send), payload(sendBuffer, sendBytes));
        sendBuffer.limit(HEADER + sendBytes);
        sendMac.update(sendBuffer);
        sendBuffer.limit(HEADER + sendBytes + TAG);
        try {
            sendMac.doFinal(tag, 0);
        } catch (javax.crypto.ShortBufferException e) {
            throw new IllegalStateException(e);
        }
        sendBuffer.put(tag);
        sendBuffer.flip();
        int receiveBytes = chunkLength(n, receive) * data.bytes();
        receiveBuffer.clear();
        receiveBuffer.limit(HEADER + receiveBytes + TAG);
        boolean headerChecked = false;
        readKey.interestOps(SelectionKey.OP_READ);
        writeKey.interestOps(SelectionKey.OP_WRITE);
        long timeoutMs = settings.ioTimeout().toMillis();
        try {
            while (sendBuffer.hasRemaining() || receiveBuffer.hasRemaining()) {
                if (selector.select(timeoutMs) == 0) {
                    throw new CollectiveException(me() + ": no progress for " + settings.ioTimeout().toSeconds()
                            + " s " + (receiveBuffer.hasRemaining() ? "receiving from " + leftName()
                            : "sending to rank " + (rank + 1) % ranks + " at " + rightAddress)
                            + ": is it still running?");
                }
                selector.selectedKeys().clear();
                if (sendBuffer.hasRemaining()) { // first, so a neighbour we are about to fail sees our header
                    right.write(sendBuffer);
                }
                if (receiveBuffer.hasRemaining() && left.read(receiveBuffer) < 0) {
                    throw new CollectiveException(me() + ": " + leftName() + " closed the connection");
                }
                if (!headerChecked && receiveBuffer.position() >= HEADER) {
                    checkHeader(call, step, receiveBytes);
                    headerChecked = true;
                }
                readKey.interestOps(receiveBuffer.hasRemaining() ? SelectionKey.OP_READ : 0);
                writeKey.interestOps(sendBuffer.hasRemaining() ? SelectionKey.OP_WRITE : 0);
            }
        } catch (CollectiveException e) {
            throw e;
        } catch (IOException e) {
            throw new CollectiveException(me() + ": the ring broke (left rank " + Math.floorMod(rank - 1, ranks) + " at "
                    + leftAddress + ", right rank " + (rank + 1) % ranks + " at " + rightAddress + "): "
                    + e.getMessage(), e);
        }
        receiveBuffer.flip();
        receiveBuffer.limit(HEADER + receiveBytes);
        receiveMac.update(receiveBuffer);
        byte[] want = receiveMac.doFinal();
        receiveBuffer.limit(HEADER + receiveBytes + TAG);
        receiveBuffer.get(HEADER + receiveBytes, tag);
        if (!MessageDigest.isEqual(want, tag)) {
            throw new CollectiveException(me() + ": the message from " + leftName() + " (sum " + call + ", step "
                    + step + ", " + receiveBytes + " bytes) fails its authentication: it was altered in transit, or"
                    + " is not from this job's rank; nothing of it was used");
        }
        return payload(receiveBuffer, receiveBytes);
    }

    /** The payload region of a message buffer, as a little-endian buffer from position 0. */
    private static ByteBuffer payload(ByteBuffer message, int bytes) {
        return message.slice(HEADER, bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The received header must name this call and step and the length this rank expects. */
    private void checkHeader(long call, int step, int bytes) throws CollectiveException {
        long theirCall = receiveBuffer.getLong(0);
        int theirStep = receiveBuffer.getInt(8);
        int theirBytes = receiveBuffer.getInt(12);
        if (theirBytes != bytes) {
            throw new CollectiveException(me() + ": " + leftName() + " sent a chunk of " + theirBytes + " bytes where"
                    + " this rank expects " + bytes + " (sum " + call + ", step " + step + "): the ranks passed"
                    + " different lengths to the same sum");
        }
        if (theirCall != call || theirStep != step) {
            throw new CollectiveException(me() + ": " + leftName() + " sent step " + theirStep + " of sum "
                    + theirCall + " where this rank is at step " + step + " of sum " + call
                    + ": the ranks ran different sums");
        }
    }

    private String me() {
        return "rank " + rank + " of " + ranks;
    }

    private String leftName() {
        return "rank " + Math.floorMod(rank - 1, ranks) + " at " + leftAddress;
    }

    @Override
    public void close() throws IOException {
        try (Selector s = selector; SocketChannel l = left; SocketChannel r = right) {
            // each closed (in reverse order), nulls skipped
        }
    }
}
