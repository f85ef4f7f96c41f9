package org.distillery.core.collective;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The mutual challenge-response that lets a connection between two parties of one job through: each sends a fresh
 * nonce and answers the other's with HMAC-SHA256 under the job's secret, over its role and who talks to whom, so
 * the secret never crosses the wire, an answer cannot be replayed, and neither side can pose as another party.
 * Parties are numbered: ranks from 0, the driver {@link #DRIVER}.
 *
 * <p>Both sides leave with the same traffic key, an HMAC of both nonces and both parties under the secret: fresh for
 * every connection, so messages authenticated with it ({@link RingAllReduce}) cannot be replayed on another one.
 */
public final class Handshake {
    /** The driver's number in a handshake with a rank. */
    public static final int DRIVER = -1;
    private static final byte[] MAGIC = "distillery-ring/1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final int NONCE = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Handshake() {
    }

    /**
     * The acceptor's side, as {@code me}: a nonce out, the caller's number and proof in, our proof on its nonce out.
     * Fails unless the caller is {@code expected} and holds {@code secret}, by {@code deadline} ({@link System#nanoTime}).
     * Returns the connection's traffic key. {@link HandshakeGate} runs the same steps for many connections at once.
     */
    public static byte[] accept(SocketChannel c, int me, int expected, byte[] secret, long deadline) throws IOException {
        c.socket().setSoTimeout((int) Math.max(1000, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
        c.socket().setTcpNoDelay(true);
        DataOutputStream out = new DataOutputStream(c.socket().getOutputStream());
        DataInputStream in = new DataInputStream(c.socket().getInputStream());
        Acceptor acceptor = new Acceptor(me, expected, secret);
        out.write(acceptor.greeting());
        out.flush();
        Admission admission = acceptor.admit(in.readNBytes(Acceptor.CALLER_BYTES));
        out.write(admission.proof());
        out.flush();
        c.socket().setSoTimeout(0);
        return admission.key();
    }

    /**
     * The acceptor's side as steps, for whoever does the I/O: write {@link #greeting}, read {@link #CALLER_BYTES}
     * bytes, {@link #admit} them, write the proof. One per connection: its nonce is fresh.
     */
    static final class Acceptor {
        /** What the caller sends: its number, its nonce, its proof. */
        static final int CALLER_BYTES = 4 + NONCE + 32;
        private final int me;
        private final int expected;
        private final byte[] secret;
        private final byte[] nonce = nonce();

        Acceptor(int me, int expected, byte[] secret) {
            this.me = me;
            this.expected = expected;
            this.secret = secret;
        }

        /** The magic and our nonce. */
        byte[] greeting() {
            return concat(MAGIC, nonce);
        }

        /** Checks what the caller sent (fewer bytes: it closed the connection first); our proof and the key. */
        Admission admit(byte[] sent) throws IOException {
            if (sent.length < CALLER_BYTES) {
                throw new IOException("it closed the connection during the handshake");
            }
            ByteBuffer b = ByteBuffer.wrap(sent);
            int caller = b.getInt();
            byte[] callerNonce = new byte[NONCE];
            byte[] proof = new byte[32];
            b.get(callerNonce).get(proof);
            if (caller != expected || !MessageDigest.isEqual(proof, mac(secret, 'c', nonce, caller, me))) {
                throw new IOException("it did not prove it is " + name(expected) + " of this job");
            }
            return new Admission(mac(secret, 's', callerNonce, me, caller),
                    trafficKey(secret, nonce, callerNonce, caller, me));
        }
    }

    /** A caller let in: the proof to send it, and the connection's traffic key. */
    record Admission(byte[] proof, byte[] key) {
    }

    /**
     * The caller's side, as {@code me}, on a connected channel to {@code peer} at {@code to}: answers the acceptor's
     * nonce and checks its answer to ours. The channel's read timeout bounds the wait. Returns the connection's
     * traffic key.
     */
    public static byte[] call(SocketChannel c, int me, int peer, byte[] secret, InetSocketAddress to) throws IOException {
        DataInputStream in = new DataInputStream(c.socket().getInputStream());
        DataOutputStream out = new DataOutputStream(c.socket().getOutputStream());
        byte[] magic = in.readNBytes(MAGIC.length);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new CollectiveException(name(me) + ": " + to + " is no endpoint of a Distillery job");
        }
        byte[] serverNonce = in.readNBytes(NONCE);
        byte[] myNonce = nonce();
        out.writeInt(me);
        out.write(myNonce);
        out.write(mac(secret, 'c', serverNonce, me, peer));
        out.flush();
        byte[] answer = in.readNBytes(32);
        if (answer.length < 32) {
            throw new CollectiveException(name(me) + ": " + name(peer) + " at " + to + " refused " + name(me)
                    + ": does it run the same stage attempt?");
        }
        if (!MessageDigest.isEqual(answer, mac(secret, 's', myNonce, peer, me))) {
            throw new CollectiveException(name(me) + ": " + to + " did not prove it is " + name(peer) + " of this job");
        }
        c.socket().setSoTimeout(0);
        return trafficKey(secret, serverNonce, myNonce, me, peer);
    }

    /** The key both ends of one connection derive: over both nonces, so no two connections share it. */
    static byte[] trafficKey(byte[] secret, byte[] acceptorNonce, byte[] callerNonce, int caller, int acceptor) {
        return mac(secret, 'k', concat(acceptorNonce, callerNonce), caller, acceptor);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** "rank 3", or "the driver". */
    static String name(int party) {
        return party == DRIVER ? "the driver" : "rank " + party;
    }

    private static byte[] nonce() {
        byte[] b = new byte[NONCE];
        RANDOM.nextBytes(b);
        return b;
    }

    /** HMAC-SHA256 over the role, the peer's nonce, and who is talking to whom. */
    private static byte[] mac(byte[] secret, char role, byte[] nonce, int from, int to) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(secret, "HmacSHA256"));
            m.update((byte) role);
            m.update(nonce);
            m.update(ByteBuffer.allocate(8).putInt(from).putInt(to).array());
            return m.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }
}
