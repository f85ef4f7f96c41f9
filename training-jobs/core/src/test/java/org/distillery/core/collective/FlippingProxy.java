package org.distillery.core.collective;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;

/**
 * A man in the middle for ring tests: forwards one connection both ways on real sockets and flips one byte of the
 * caller's stream (the connecting rank's handshake, then its framed messages). Tests of the ring and of training
 * over it share this one copy through core's test-jar.
 */
public final class FlippingProxy implements AutoCloseable {
    /** What a caller sends before its first message: its number, its nonce, its proof. */
    public static final int HANDSHAKE = Handshake.Acceptor.CALLER_BYTES;
    /** A message's header: call number (8 bytes), step within the call (4), payload bytes (4). */
    public static final int HEADER = RingAllReduce.HEADER;

    /** A message as its header describes it, for choosing the one to alter. */
    public record Message(long call, int step, int bytes) {
    }

    private final ServerSocketChannel server = ServerSocketChannel.open();
    private final AtomicBoolean flipped = new AtomicBoolean();
    private final List<SocketChannel> open = new CopyOnWriteArrayList<>();
    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final long flipAt;
    private final Predicate<Message> which;
    private final Runnable onFlip;

    private FlippingProxy(InetSocketAddress target, long flipAt, Predicate<Message> which, Runnable onFlip)
            throws IOException {
        this.flipAt = flipAt;
        this.which = which;
        this.onFlip = onFlip;
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        start(() -> {
            SocketChannel in = server.accept();
            SocketChannel out = SocketChannel.open(target);
            open.add(in);
            open.add(out);
            start(() -> pump(out, in, false));
            pump(in, out, true);
        });
    }

    /** Flips the byte at {@code offset} of the caller's stream (counting its handshake). */
    public static FlippingProxy atByte(InetSocketAddress target, long offset) throws IOException {
        return new FlippingProxy(target, offset, null, () -> { });
    }

    /**
     * Flips the first payload byte of the first message {@code which} accepts (it sees every header in order), after
     * running {@code onFlip}: nothing of the altered message has reached the listener when it runs.
     */
    public static FlippingProxy inPayload(InetSocketAddress target, Predicate<Message> which, Runnable onFlip)
            throws IOException {
        return new FlippingProxy(target, -1, which, onFlip);
    }

    private interface Io {
        void run() throws IOException;
    }

    private void start(Io io) {
        Thread t = new Thread(() -> {
            try {
                io.run();
            } catch (IOException e) {
                // a side closed: the test's ranks report it
            }
        }, "flipping-proxy");
        t.setDaemon(true);
        threads.add(t);
        t.start();
    }

    private void pump(SocketChannel from, SocketChannel to, boolean caller) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        long seen = 0;
        long at = caller ? flipAt : -1;
        long frame = HANDSHAKE; // where the next message's header starts
        ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        try {
            while (from.read(b) >= 0) {
                b.flip();
                for (int i = 0; i < b.limit(); i++) {
                    long offset = seen + i;
                    if (caller && which != null && at < 0 && offset >= frame) { // parse the framing as it passes
                        header.put(b.get(i));
                        if (!header.hasRemaining()) {
                            Message m = new Message(header.getLong(0), header.getInt(8), header.getInt(12));
                            if (m.bytes() > 0 && which.test(m)) {
                                at = offset + 1;
                            }
                            frame = offset + 1 + m.bytes() + RingAllReduce.TAG;
                            header.clear();
                        }
                    }
                    if (offset == at && !flipped.get()) {
                        onFlip.run();
                        b.put(i, (byte) (b.get(i) ^ 0x10));
                        flipped.set(true);
                    }
                }
                seen += b.limit();
                while (b.hasRemaining()) {
                    to.write(b);
                }
                b.clear();
            }
        } finally {
            to.close();
        }
    }

    public InetSocketAddress address() throws IOException {
        return (InetSocketAddress) server.getLocalAddress();
    }

    /** Whether the byte was flipped (the stream got that far). */
    public boolean flipped() {
        return flipped.get();
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (SocketChannel c : open) {
            c.close();
        }
        for (Thread t : threads) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
