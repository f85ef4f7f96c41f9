package org.distillery.core.collective;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The acceptor's side of the {@link Handshake} for every connection to one listening socket, all on one thread and
 * none blocking: a connection that says nothing holds up nobody, and a flood of them costs no threads. At most
 * {@link #MAX_PENDING} connections handshake at once; past that the oldest is dropped (refused), so the party that
 * comes last, after a crowd of silent ones, still gets in. Each connection has {@link Terms#patience} to prove
 * itself. Proven connections go to {@code admitted}, in blocking mode, on this thread: it must return at once.
 */
final class HandshakeGate implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(HandshakeGate.class.getName());
    /** Connections handshaking at once; the oldest past it is dropped. */
    static final int MAX_PENDING = 16;
    /** The gate's thread's name starts so (then "driver" or "rank-N"). */
    static final String THREAD_PREFIX = "distillery-handshake-";

    /** Who listens ({@code me}), whom it lets in ({@code expected}) under {@code secret}, and for how long each may try. */
    record Terms(int me, int expected, byte[] secret, Duration patience) {
    }

    private final ServerSocketChannel server;
    private final Terms terms;
    private final Consumer<RingEndpoint.Link> admitted;
    private final Runnable stopped;
    private final Selector selector;
    /** In the order they came: the first is the oldest, and the first whose patience runs out. */
    private final LinkedHashSet<Pending> pending = new LinkedHashSet<>();
    private final AtomicInteger refused = new AtomicInteger();
    private final AtomicInteger admitting = new AtomicInteger();
    private final Thread thread;
    private volatile boolean open = true;

    private HandshakeGate(ServerSocketChannel server, Terms terms, Consumer<RingEndpoint.Link> admitted,
                          Runnable stopped, Selector selector) {
        this.server = server;
        this.terms = terms;
        this.admitted = admitted;
        this.stopped = stopped;
        this.selector = selector;
        this.thread = new Thread(this::run, THREAD_PREFIX + (terms.me() == Handshake.DRIVER ? "driver"
                : "rank-" + terms.me()));
        this.thread.setDaemon(true);
    }

    /**
     * Starts letting {@code terms.expected()} in through {@code server} (which the caller still closes); runs
     * {@code stopped} on the gate's thread when it stops taking connections (closed, or the socket failed).
     */
    static HandshakeGate open(ServerSocketChannel server, Terms terms, Consumer<RingEndpoint.Link> admitted,
                              Runnable stopped) throws IOException {
        Selector selector = Selector.open();
        try {
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
        HandshakeGate gate = new HandshakeGate(server, terms, admitted, stopped, selector);
        gate.thread.start();
        return gate;
    }

    /** Connections closed because they did not prove themselves in time, or were dropped for newer ones. */
    int refused() {
        return refused.get();
    }

    private String who() {
        return Handshake.name(terms.me());
    }

    private void run() {
        List<Pending> done = new ArrayList<>();
        try {
            while (open) {
                Pending oldest = pending.isEmpty() ? null : pending.iterator().next();
                long wait = oldest == null ? 0 // nobody to time out: wait for a connection or close()
                        : Math.max(1, TimeUnit.NANOSECONDS.toMillis(oldest.deadline - System.nanoTime()));
                selector.select(wait);
                for (SelectionKey k : selector.selectedKeys()) {
                    if (k.attachment() == null) {
                        acceptAll();
                    } else if (k.isValid()) {
                        Pending p = (Pending) k.attachment();
                        try {
                            boolean proven = p.admission != null;
                            if (p.step()) {
                                done.add(p);
                            }
                            if (!proven && p.admission != null) {
                                admitting.incrementAndGet(); // before its proof goes out
                            }
                        } catch (IOException e) {
                            refuse(p, e.getMessage());
                        }
                    }
                }
                selector.selectedKeys().clear();
                if (!done.isEmpty()) {
                    admit(done);
                    done.clear();
                }
                expire();
            }
        } catch (IOException | ClosedSelectorException e) {
            if (open) {
                LOG.log(System.Logger.Level.ERROR, who() + ": stopped taking connections on " + local() + ": "
                        + e.getMessage());
            }
        } finally {
            for (Pending p : pending) {
                RingEndpoint.closeQuietly(p.channel);
            }
            pending.clear();
            admitting.set(0);
            try {
                selector.close();
            } catch (IOException e) {
                // nothing is left to select
            }
            stopped.run();
        }
    }

    private void acceptAll() throws IOException {
        SocketChannel c;
        while ((c = server.accept()) != null) {
            Pending p = new Pending(c, new Handshake.Acceptor(terms.me(), terms.expected(), terms.secret()),
                    System.nanoTime() + terms.patience().toNanos());
            try {
                c.configureBlocking(false);
                c.socket().setTcpNoDelay(true);
                p.key = c.register(selector, SelectionKey.OP_WRITE, p);
            } catch (IOException e) {
                refused.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, who() + ": refused a connection from " + RingEndpoint.remote(c)
                        + ": " + e.getMessage());
                RingEndpoint.closeQuietly(c);
                continue;
            }
            pending.add(p);
            if (pending.size() > MAX_PENDING) {
                refuse(pending.iterator().next(), "more than " + MAX_PENDING + " connections were handshaking at once,"
                        + " and it was the oldest");
            }
        }
    }

    /** Hands the proven ones over, back in blocking mode (which needs them off the selector first). */
    private void admit(List<Pending> done) throws IOException {
        for (Pending p : done) {
            p.key.cancel();
        }
        selector.selectNow(); // deregisters the cancelled keys
        selector.selectedKeys().clear(); // level-triggered: whatever is still ready comes up again
        for (Pending p : done) {
            try {
                p.channel.configureBlocking(true);
                admitted.accept(new RingEndpoint.Link(p.channel, p.key()));
            } catch (IOException e) {
                refused.incrementAndGet();
                LOG.log(System.Logger.Level.WARNING, who() + ": lost " + RingEndpoint.remote(p.channel)
                        + " right after its handshake: " + e.getMessage());
                RingEndpoint.closeQuietly(p.channel);
            } catch (RuntimeException e) { // the gate goes on for the next one
                LOG.log(System.Logger.Level.ERROR, who() + ": could not take " + RingEndpoint.remote(p.channel)
                        + " in: " + e, e);
                RingEndpoint.closeQuietly(p.channel);
            } finally {
                forget(p);
            }
        }
    }

    /** Off the list; a proven one is no longer on its way in. */
    private void forget(Pending p) {
        if (pending.remove(p) && p.admission != null) {
            admitting.decrementAndGet();
        }
    }

    /**
     * Connections that proved themselves and are not yet handed over: the caller may already have its proof, and
     * may even have sent and closed, before {@code admitted} hears of it.
     */
    int admitting() {
        return admitting.get();
    }

    /** Refuses those whose patience ran out: the oldest first, and the rest came later. */
    private void expire() {
        long now = System.nanoTime();
        while (!pending.isEmpty() && pending.iterator().next().deadline - now <= 0) {
            refuse(pending.iterator().next(), "it did not finish the handshake in " + terms.patience().toSeconds()
                    + " s");
        }
    }

    private void refuse(Pending p, String why) {
        forget(p);
        refused.incrementAndGet();
        LOG.log(System.Logger.Level.WARNING, who() + ": refused a connection from " + RingEndpoint.remote(p.channel)
                + ": " + why);
        RingEndpoint.closeQuietly(p.channel);
    }

    private String local() {
        try {
            return String.valueOf(server.getLocalAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    /**
     * Stops: pending connections are closed, and the listening socket is off the selector when this returns (so
     * closing it closes the port at once).
     */
    @Override
    public void close() {
        open = false;
        selector.wakeup();
        if (Thread.currentThread() != thread) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(30)); // the loop ends at the wake-up: the bound only catches a hang
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                LOG.log(System.Logger.Level.ERROR, who() + ": the handshake thread on " + local() + " did not stop");
            }
        }
    }

    /** One connection's handshake so far: the greeting out, the caller's bytes in, our proof out. */
    private static final class Pending {
        final SocketChannel channel;
        final Handshake.Acceptor acceptor;
        final long deadline;
        final ByteBuffer in = ByteBuffer.allocate(Handshake.Acceptor.CALLER_BYTES); // never more: what follows is the link's
        ByteBuffer out;
        Handshake.Admission admission;
        SelectionKey key;

        Pending(SocketChannel channel, Handshake.Acceptor acceptor, long deadline) {
            this.channel = channel;
            this.acceptor = acceptor;
            this.deadline = deadline;
            this.out = ByteBuffer.wrap(acceptor.greeting());
        }

        byte[] key() {
            return admission.key();
        }

        /** Does what the channel is ready for; true once the caller is proven and has our proof. */
        boolean step() throws IOException {
            if (key.isWritable()) {
                channel.write(out);
                if (out.hasRemaining()) {
                    return false;
                }
                if (admission != null) {
                    return true;
                }
                key.interestOps(SelectionKey.OP_READ);
            } else if (key.isReadable()) {
                if (channel.read(in) < 0) {
                    throw new IOException("it closed the connection during the handshake");
                }
                if (in.hasRemaining()) {
                    return false;
                }
                admission = acceptor.admit(in.array());
                out = ByteBuffer.wrap(admission.proof());
                key.interestOps(SelectionKey.OP_WRITE);
            }
            return false;
        }
    }
}
