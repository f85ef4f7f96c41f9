package org.distillery.core.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.tracking.RunStatus;
import org.distillery.core.tracking.RunTracker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rank 0's reports reach the driver's run over a real loopback connection; nobody else's do; a report the driver
 * cannot apply fails the run loudly; a crowd of silent connections keeps nobody out.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS) // only catches a hang: each test takes a second or two
class RunRelayTest {
    /** A run that records what it is told. */
    static final class Recorded implements RunTracker {
        final List<String> calls = new ArrayList<>();

        @Override
        public String runId() {
            return "run-1";
        }

        @Override
        public synchronized void logParams(Map<String, String> params) {
            calls.add("params " + new TreeMap<>(params));
        }

        @Override
        public synchronized void setTags(Map<String, String> tags) {
            calls.add("tags " + new TreeMap<>(tags));
        }

        @Override
        public synchronized void logMetric(String key, double value, long step) {
            calls.add("metric " + key + "=" + value + "@" + step);
        }

        @Override
        public synchronized void flush() {
            calls.add("flush");
        }

        @Override
        public void logArtifact(Path file, String artifactDir) {
        }

        @Override
        public void finish(RunStatus status) {
        }

        @Override
        public void close() {
        }
    }

    @Test
    void rankZerosCallsReachTheDriversRunInOrder() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        Recorded run = new Recorded();
        List<ProgressEvent> events = java.util.Collections.synchronizedList(new ArrayList<>());
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                events::add, new PrintStream(warnings, true, StandardCharsets.UTF_8))) {
            // a stranger without the secret is refused, and the driver goes on waiting for rank 0
            assertThrows(CollectiveException.class, () -> RunRelay.Sender.connect(driver.address(),
                    RingEndpoint.newSecret(), "x", Duration.ofSeconds(10)));
            try (RunRelay.Sender rank0 = RunRelay.Sender.connect(driver.address(), secret, "run-1",
                    Duration.ofSeconds(10))) {
                assertEquals("run-1", rank0.runId());
                rank0.logParams(Map.of("model.n_layer", "2"));
                rank0.setTags(Map.of("distillery.ranks", "2"));
                rank0.on(ProgressEvent.progress("train", "train", 3, 10, "steps"));
                rank0.logMetric("train/loss", 4.25, 3);
                rank0.logMetric("train/loss", Double.NaN, 4); // a diverged step is a figure too
                rank0.flush();
                rank0.warnings().println("warning: something to know");
            }
            driver.drain(Duration.ofSeconds(10));
            assertEquals(List.of("params {model.n_layer=2}", "tags {distillery.ranks=2}", "metric train/loss=4.25@3",
                    "metric train/loss=NaN@4", "flush"), run.calls);
            assertEquals(1, events.size());
            assertTrue(events.get(0) instanceof ProgressEvent.Progress p && p.done() == 3 && p.total() == 10,
                    events.toString());
            assertEquals("warning: something to know\n", warnings.toString(StandardCharsets.UTF_8));
            assertEquals(1, driver.refused());
        }
    }

    /** Rank 0 as a real caller of the handshake that writes raw lines: what a broken or skewed rank 0 could send. */
    private static SocketChannel rawRankZero(InetSocketAddress driver, byte[] secret) throws IOException {
        SocketChannel c = SocketChannel.open(driver);
        c.socket().setSoTimeout((int) TimeUnit.SECONDS.toMillis(60)); // only catches a hang
        Handshake.call(c, 0, Handshake.DRIVER, secret, driver);
        c.socket().setSoTimeout((int) TimeUnit.SECONDS.toMillis(60));
        return c;
    }

    private static void write(SocketChannel c, String text) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            c.write(b);
        }
    }

    @Test
    void aMalformedLineFailsTheRunLoudlyNamingItAndRankZeroLearnsIt() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        Recorded run = new Recorded();
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        List<Exception> heard = java.util.Collections.synchronizedList(new ArrayList<>());
        try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                e -> { }, new PrintStream(warnings, true, StandardCharsets.UTF_8))) {
            driver.onFailure(heard::add);
            SocketChannel rank0 = rawRankZero(driver.address(), secret);
            String from = String.valueOf(rank0.getLocalAddress());
            write(rank0, "{\"kind\":\"metric\",\"key\":\"train/loss\",\"value\":4.25,\"step\":3}\n"
                    + "{\"kind\":\"metric\",\"key\":\"train/loss\",\"value\":4.\n"
                    + "{\"kind\":\"metric\",\"key\":\"train/loss\",\"value\":4.0,\"step\":5}\n");
            // the driver tells rank 0 why, on the same connection, and ends its side
            String told = new String(rank0.socket().getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(told.startsWith("{\"kind\":\"failed\"") && told.contains("line 2 from " + from), told);
            rank0.close();
            CollectiveException e = assertThrows(CollectiveException.class, () -> driver.drain(Duration.ofSeconds(60)));
            assertTrue(e.getMessage().startsWith("the driver stopped the run: rank 0's report line 2 from " + from
                    + " is malformed (no JSON: "), e.getMessage());
            assertTrue(e.getMessage().endsWith("): {\"kind\":\"metric\",\"key\":\"train/loss\",\"value\":4."),
                    e.getMessage());
            assertEquals(List.of("metric train/loss=4.25@3"), run.calls, "nothing after the bad line is applied");
            assertEquals("error: " + e.getMessage() + "\n", warnings.toString(StandardCharsets.UTF_8),
                    "said once, at once, on the driver's stderr");
            assertEquals(1, heard.size(), "the driver's hook (which ends the job) heard it");
            assertEquals(e.getMessage(), heard.get(0).getMessage());

            // a retried stage's rank 0 gets in, and its reports throw the same failure instead of vanishing
            try (RunRelay.Sender retried = RunRelay.Sender.connect(driver.address(), secret, "run-1",
                    Duration.ofSeconds(60))) {
                org.distillery.core.DistilleryException thrown = assertThrows(
                        org.distillery.core.DistilleryException.class, () -> {
                            for (long step = 0; ; step++) { // the driver's word may come a moment after the handshake
                                retried.logMetric("train/loss", 1, step);
                                Thread.sleep(10);
                            }
                        });
                assertEquals("rank 0: " + e.getMessage(), thrown.getMessage());
            }
            assertEquals(List.of("metric train/loss=4.25@3"), run.calls);
        }
    }

    @Test
    void aReportOfNoKnownKindOrWithoutItsFieldsIsMalformedToo() throws Exception {
        for (String bad : List.of("[1,2]", "{\"kind\":\"metrics\"}", "{\"kind\":\"metric\",\"key\":\"a\",\"value\":1}",
                "{\"kind\":\"metric\",\"key\":\"a\",\"value\":\"x\",\"step\":1}", "{\"kind\":\"params\"}",
                "{\"kind\":\"tags\",\"map\":{\"a\":{}}}")) {
            byte[] secret = RingEndpoint.newSecret();
            Recorded run = new Recorded();
            try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                    e -> { }, new PrintStream(OutputStream.nullOutputStream()))) {
                try (SocketChannel rank0 = rawRankZero(driver.address(), secret)) {
                    write(rank0, bad + "\n");
                }
                CollectiveException e = assertThrows(CollectiveException.class,
                        () -> driver.drain(Duration.ofSeconds(60)), bad);
                assertTrue(e.getMessage().contains("line 1 from") && e.getMessage().endsWith("): " + bad),
                        e.getMessage());
                assertEquals(List.of(), run.calls);
            }
        }
    }

    /** Its task died mid-write: Spark retries the stage, whose rank 0 reports again from its checkpoint. */
    @Test
    void aLastLineCutOffByADyingRankZeroIsNoFailure() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        Recorded run = new Recorded();
        try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                e -> { }, new PrintStream(OutputStream.nullOutputStream()))) {
            try (SocketChannel rank0 = rawRankZero(driver.address(), secret)) {
                write(rank0, "{\"kind\":\"flush\"}\n{\"kind\":\"met");
            }
            driver.drain(Duration.ofSeconds(60));
            assertEquals(List.of("flush"), run.calls);
        }
    }

    /** The threads of this JVM whose names start with "distillery-", less those in {@code before}. */
    static List<String> ours(java.util.Set<Thread> before) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> !before.contains(t))
                .map(Thread::getName).filter(n -> n.startsWith("distillery-")).sorted().toList();
    }

    /** Reads what {@code c} is sent until the other end closes it; fails on a hang. */
    static void assertClosedByTheOtherEnd(SocketChannel c, String what) throws IOException {
        c.socket().setSoTimeout((int) TimeUnit.SECONDS.toMillis(60)); // only catches a hang
        try {
            c.socket().getInputStream().readAllBytes(); // the greeting, then the end
        } catch (java.net.SocketTimeoutException e) {
            throw new AssertionError(what + " was left open", e);
        } catch (IOException e) {
            // reset: closed as well
        }
    }

    @Test
    void fiftySilentConnectionsKeepNeitherRankZeroOutNorMoreThanOneThreadBusy() throws Exception {
        byte[] secret = RingEndpoint.newSecret();
        Recorded run = new Recorded();
        java.util.Set<Thread> before = Thread.getAllStackTraces().keySet();
        List<SocketChannel> silent = new ArrayList<>();
        try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                e -> { }, new PrintStream(OutputStream.nullOutputStream()))) {
            for (int i = 0; i < 50; i++) {
                silent.add(SocketChannel.open(driver.address())); // connects and says nothing
            }
            while (driver.refused() < 50 - HandshakeGate.MAX_PENDING) { // the oldest past the cap are dropped at once
                Thread.sleep(10);
            }
            assertEquals(List.of(HandshakeGate.THREAD_PREFIX + "driver"), ours(before), "one thread for all of them");
            long t0 = System.nanoTime();
            // rank 0 would time out long before the silent ones' patience ran out, were it kept waiting behind them
            try (RunRelay.Sender rank0 = RunRelay.Sender.connect(driver.address(), secret, "run-1",
                    RunRelay.Receiver.PATIENCE.dividedBy(2))) {
                assertTrue(System.nanoTime() - t0 < RunRelay.Receiver.PATIENCE.toNanos(), "rank 0 got in in time");
                rank0.logMetric("train/loss", 4.25, 3);
                assertTrue(ours(before).size() <= 2, "the handshakes' thread and rank 0's reader: " + ours(before));
            }
            driver.drain(Duration.ofSeconds(60));
            assertEquals(List.of("metric train/loss=4.25@3"), run.calls);
            assertTrue(driver.refused() >= 50 - HandshakeGate.MAX_PENDING, "refused: " + driver.refused());
        }
        for (int i = 0; i < silent.size(); i++) {
            assertClosedByTheOtherEnd(silent.get(i), "silent connection " + i);
            silent.get(i).close();
        }
    }
}
