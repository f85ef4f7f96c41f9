package org.distillery.core.collective;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.distillery.core.DistilleryException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.tracking.RunStatus;
import org.distillery.core.tracking.RunTracker;

/**
 * How rank 0 of a distributed run reports to the driver, which holds the run: its metrics, params and tags, its
 * progress events and its warnings travel as JSON lines over one connection, which proves itself with the
 * {@link Handshake} under the job's secret. The driver tracks the run (the local run store, MLflow) and shows the
 * progress as a job on one machine does, so executors need no access to the tracking server and a run on a cluster
 * lists beside the local ones. A retried stage's new rank 0 connects again.
 */
public final class RunRelay {
    private static final System.Logger LOG = System.getLogger(RunRelay.class.getName());
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    private RunRelay() {
    }

    /**
     * The driver's end: accepts rank 0 (again after a stage retry) and applies what it sends to the run.
     *
     * <p>A distributed run never loses its reports silently. A line that is no well-formed report, or a report the
     * run cannot take (its store failed: the local journal, since {@code TrackedRun} already rides out an MLflow
     * server that is down), fails the run at once; neither is retried. A malformed line means the two ends disagree,
     * and a local journal that failed (disk full, folder gone, unwritable) is not mended in a moment, while a retried
     * {@code logMetric} would journal a metric twice ({@code TrackedRun} buffers it before it writes). The failure,
     * naming the line, rank 0's address and the cause, is printed on the warnings stream at once, handed to the
     * {@link #onFailure} hook (the driver ends the job), told to rank 0 (whose next report throws it), told to every
     * later rank 0 (a retried stage's), and thrown by {@link #drain} and {@link #check}. What rank 0 sends after it
     * is read and dropped.
     */
    public static final class Receiver implements AutoCloseable {
        /** How long a connection may take to prove it is rank 0. */
        static final Duration PATIENCE = Duration.ofSeconds(30);
        /** At most this much of a malformed line goes into the failure. */
        private static final int QUOTED = 200;

        private final ServerSocketChannel server;
        private final RunTracker run;
        private final ProgressListener progress;
        private final PrintStream warnings;
        private final HandshakeGate gate;
        private volatile SocketChannel current;
        private volatile CollectiveException failure;
        private Consumer<? super CollectiveException> stop = e -> { };

        private Receiver(ServerSocketChannel server, byte[] secret, RunTracker run, ProgressListener progress,
                         PrintStream warnings) throws IOException {
            this.server = server;
            this.run = run;
            this.progress = progress;
            this.warnings = warnings;
            this.gate = HandshakeGate.open(server, new HandshakeGate.Terms(Handshake.DRIVER, 0, secret, PATIENCE),
                    this::admitted, () -> { });
        }

        /** Listens on an ephemeral port of {@code address} (the driver's host, as the executors reach it). */
        public static Receiver listen(InetAddress address, byte[] secret, RunTracker run, ProgressListener progress,
                                      PrintStream warnings) throws IOException {
            ServerSocketChannel s = ServerSocketChannel.open();
            try {
                s.bind(new InetSocketAddress(address, 0));
                return new Receiver(s, secret, run, progress, warnings);
            } catch (IOException e) {
                s.close();
                throw new CollectiveException("cannot listen on " + address.getHostAddress() + " for rank 0's reports: "
                        + e.getMessage(), e);
            }
        }

        public InetSocketAddress address() throws IOException {
            return (InetSocketAddress) server.getLocalAddress();
        }

        /** Connections closed because they could not prove they are rank 0 of this job (in time). */
        public int refused() {
            return gate.refused();
        }

        /**
         * Calls {@code stop} when the relay fails the run (at once if it already has), on the thread that read the
         * report: the driver ends the job there rather than let the ranks train on without their figures.
         */
        public void onFailure(Consumer<? super CollectiveException> stop) {
            CollectiveException f;
            synchronized (this) {
                this.stop = stop;
                f = failure;
            }
            if (f != null) {
                stop.accept(f);
            }
        }

        /** Throws the failure if the relay failed the run. */
        public void check() throws CollectiveException {
            CollectiveException f = failure;
            if (f != null) {
                throw new CollectiveException(f.getMessage(), f.getCause());
            }
        }

        /** On the gate's thread: a proven rank 0, whose reports a reader of its own applies. */
        private void admitted(RingEndpoint.Link link) {
            SocketChannel c = link.channel();
            SocketChannel previous = current;
            current = c;
            RingEndpoint.closeQuietly(previous); // a retried stage's rank 0 replaces the failed one's
            Thread reader = new Thread(() -> read(c), "distillery-run-relay-reader");
            reader.setDaemon(true);
            reader.start();
        }

        private void read(SocketChannel c) {
            String from = RingEndpoint.remote(c);
            long number = 0;
            boolean told = false;
            try (InputStream in = new BufferedInputStream(c.socket().getInputStream())) {
                ByteArrayOutputStream line = new ByteArrayOutputStream();
                while (true) {
                    if (failure != null && !told) { // before the next read, which may wait long
                        tell(c, failure.getMessage());
                        told = true;
                    }
                    int b = in.read();
                    if (b == '\n') {
                        number++;
                        if (failure == null) {
                            apply(line.toString(StandardCharsets.UTF_8), number, from);
                        }
                        line.reset();
                    } else if (b >= 0) {
                        line.write(b);
                    } else {
                        if (line.size() > 0 && failure == null) { // its task died mid-report: the stage is retried
                            LOG.log(System.Logger.Level.WARNING, "rank 0 at " + from + " stopped in the middle of its"
                                    + " report line " + (number + 1) + "; a retried stage reports again from its"
                                    + " checkpoint");
                        }
                        return;
                    }
                }
            } catch (IOException e) {
                if (c == current) {
                    LOG.log(System.Logger.Level.WARNING, "rank 0's reports from " + from + " ended after line "
                            + number + ": " + e.getMessage());
                }
            } finally {
                RingEndpoint.closeQuietly(c); // drain() waits for this
            }
        }

        /** Applies report line {@code number}; fails the run if it is malformed or the run cannot take it. */
        private void apply(String line, long number, String from) {
            Runnable report;
            try {
                report = parse(line);
            } catch (IllegalArgumentException e) {
                fail("rank 0's report line " + number + " from " + from + " is malformed (" + e.getMessage() + "): "
                        + (line.length() > QUOTED ? line.substring(0, QUOTED) + "..." : line), null);
                return;
            }
            try {
                synchronized (this) {
                    report.run();
                }
            } catch (RuntimeException e) {
                fail("the run could not take rank 0's report line " + number + " from " + from + " (" + report
                        + "): " + e.getMessage(), e);
            }
        }

        /** What a line asks of the run, checked whole before any of it is done. */
        private Runnable parse(String line) {
            JsonNode m;
            try {
                m = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("no JSON: " + e.getOriginalMessage());
            }
            if (m == null || !m.isObject()) {
                throw new IllegalArgumentException("no JSON object");
            }
            String kind = text(m, "kind");
            switch (kind) {
                case "event" -> {
                    Optional<ProgressEvent> event = ProgressEvent.read(text(m, "event"), 1);
                    return described("event", () -> event.ifPresent(progress::on)); // empty: a kind this end skips
                }
                case "metric" -> {
                    String key = text(m, "key");
                    double value = number(m.get("value"));
                    JsonNode step = m.get("step");
                    if (step == null || !step.canConvertToLong() || !step.isIntegralNumber()) {
                        throw new IllegalArgumentException("a metric's step is no integer: " + step);
                    }
                    return described("metric " + key + " at step " + step.asLong(),
                            () -> run.logMetric(key, value, step.asLong()));
                }
                case "params" -> {
                    Map<String, String> map = strings(m.get("map"));
                    return described("params", () -> run.logParams(map));
                }
                case "tags" -> {
                    Map<String, String> map = strings(m.get("map"));
                    return described("tags", () -> run.setTags(map));
                }
                case "flush" -> {
                    return described("flush", run::flush);
                }
                case "warning" -> {
                    String text = text(m, "text");
                    return described("warning", () -> warnings.println(text));
                }
                default -> throw new IllegalArgumentException("unknown kind '" + kind + "'");
            }
        }

        private static String text(JsonNode m, String field) {
            JsonNode n = m.get(field);
            if (n == null || !n.isTextual()) {
                throw new IllegalArgumentException("field " + field + " is " + (n == null ? "missing" : "no text"));
            }
            return n.asText();
        }

        /** A number, or how Jackson writes the ones JSON has none for. */
        private static double number(JsonNode n) {
            if (n != null && n.isNumber()) {
                return n.asDouble();
            }
            if (n != null && n.isTextual() && Set.of("NaN", "Infinity", "-Infinity").contains(n.asText())) {
                return Double.parseDouble(n.asText());
            }
            throw new IllegalArgumentException("a metric's value is no number: " + n);
        }

        private static Map<String, String> strings(JsonNode map) {
            if (map == null || !map.isObject()) {
                throw new IllegalArgumentException("field map is " + (map == null ? "missing" : "no object"));
            }
            Map<String, String> out = new TreeMap<>();
            map.fields().forEachRemaining(e -> {
                if (!e.getValue().isTextual()) {
                    throw new IllegalArgumentException("map entry " + e.getKey() + " is no text");
                }
                out.put(e.getKey(), e.getValue().asText());
            });
            return out;
        }

        private static Runnable described(String what, Runnable r) {
            return new Runnable() {
                @Override
                public void run() {
                    r.run();
                }

                @Override
                public String toString() {
                    return what;
                }
            };
        }

        /** The first failure fails the run: said at once on the warnings stream, and the driver's hook is called. */
        private void fail(String why, Throwable cause) {
            CollectiveException f = new CollectiveException("the driver stopped the run: " + why, cause);
            Consumer<? super CollectiveException> hook;
            synchronized (this) {
                if (failure != null) {
                    return;
                }
                failure = f;
                hook = stop;
            }
            warnings.println("error: " + f.getMessage());
            hook.accept(f);
        }

        /** Tells rank 0 why its reports are no longer taken, and that no more come from this end. */
        private static void tell(SocketChannel c, String why) {
            try {
                ByteBuffer b = ByteBuffer.wrap((JSON.writeValueAsString(JSON.createObjectNode().put("kind", "failed")
                        .put("text", why)) + "\n").getBytes(StandardCharsets.UTF_8));
                while (b.hasRemaining()) {
                    c.write(b);
                }
                c.shutdownOutput();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not tell rank 0 at " + RingEndpoint.remote(c) + " why: "
                        + e.getMessage());
            }
        }

        /** Stops listening and drops a connection still open (its rank is going away: the stage is over). */
        @Override
        public void close() throws IOException {
            gate.close();
            server.close();
            RingEndpoint.closeQuietly(current);
        }

        /**
         * Waits, at most {@code timeout}, until everything rank 0 sent before it closed its end has been applied: the
         * driver calls it when the stage has ended, before it reads the run's last figures. Throws the relay's
         * failure, if it failed the run.
         */
        public void drain(Duration timeout) throws CollectiveException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                if (gate.admitting() == 0) { // else a rank 0 may have sent all and closed before it is current
                    SocketChannel c = current;
                    if (c == null || !c.isOpen()) {
                        break;
                    }
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            check();
        }
    }

    /**
     * Rank 0's end: a tracker and a progress listener whose calls go to the driver's run. Once the driver has stopped
     * the run, or the connection to it broke, every call throws ({@link DistilleryException}, naming why): rank 0's
     * reports must not vanish while it trains on.
     */
    public static final class Sender implements RunTracker, ProgressListener {
        private final SocketChannel channel;
        private final InetSocketAddress driver;
        private final Writer out;
        private final String runId;
        private final PrintStream warnings;
        private String stopped;

        private Sender(SocketChannel channel, InetSocketAddress driver, String runId) throws IOException {
            this.channel = channel;
            this.driver = driver;
            this.out = Channels.newWriter(channel, StandardCharsets.UTF_8);
            this.runId = runId;
            this.warnings = new PrintStream(new Lines(), true, StandardCharsets.UTF_8);
        }

        /** Connects to the driver's receiver at {@code driver} as rank 0 of the job that holds {@code secret}. */
        public static Sender connect(InetSocketAddress driver, byte[] secret, String runId, Duration timeout)
                throws IOException {
            SocketChannel c = SocketChannel.open();
            try {
                c.socket().connect(driver, (int) timeout.toMillis());
                c.socket().setSoTimeout((int) timeout.toMillis());
                c.socket().setTcpNoDelay(true);
                Handshake.call(c, 0, Handshake.DRIVER, secret, driver);
                return new Sender(c, driver, runId);
            } catch (IOException e) {
                RingEndpoint.closeQuietly(c);
                throw e instanceof CollectiveException ? e : new CollectiveException("rank 0: cannot report to the"
                        + " driver at " + driver + ": " + e.getMessage(), e);
            }
        }

        /** Warnings of the job, printed on the driver's stderr a line at a time. */
        public PrintStream warnings() {
            return warnings;
        }

        private synchronized void send(ObjectNode m) {
            if (stopped == null) {
                stopped = driverSaid();
            }
            if (stopped != null) {
                throw new DistilleryException(stopped);
            }
            try {
                out.write(JSON.writeValueAsString(m));
                out.write('\n');
                out.flush();
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            } catch (IOException e) {
                String said = driverSaid();
                stopped = said != null ? said : "rank 0: lost the connection to the driver at " + driver + " ("
                        + e.getMessage() + "): its reports of the run cannot reach it";
                throw new DistilleryException(stopped, e);
            }
        }

        /**
         * Why the driver stopped the run, if it said so (it never writes otherwise): checked before each report, so
         * without waiting.
         */
        private String driverSaid() {
            try {
                InputStream in = channel.socket().getInputStream();
                if (in.available() <= 0) {
                    return null;
                }
                ByteArrayOutputStream line = new ByteArrayOutputStream();
                for (int b = in.read(); b >= 0 && b != '\n'; b = in.read()) { // the driver ends its line, then its side
                    line.write(b);
                }
                JsonNode said = JSON.readTree(line.toString(StandardCharsets.UTF_8));
                return "rank 0: " + (said != null && "failed".equals(said.path("kind").asText())
                        ? said.path("text").asText() : "the driver at " + driver + " said what no driver says: " + said);
            } catch (IOException e) {
                return "rank 0: the connection to the driver at " + driver + " broke: " + e.getMessage();
            }
        }

        private static ObjectNode message(String kind) {
            return JSON.createObjectNode().put("kind", kind);
        }

        @Override
        public void on(ProgressEvent event) {
            ObjectNode m = message("event");
            m.put("event", event.toJson());
            send(m);
        }

        @Override
        public String runId() {
            return runId;
        }

        @Override
        public void logParams(Map<String, String> params) {
            ObjectNode m = message("params");
            params.forEach(m.putObject("map")::put);
            send(m);
        }

        @Override
        public void setTags(Map<String, String> tags) {
            ObjectNode m = message("tags");
            tags.forEach(m.putObject("map")::put);
            send(m);
        }

        @Override
        public void logMetric(String key, double value, long step) {
            send(message("metric").put("key", key).put("value", value).put("step", step));
        }

        @Override
        public void flush() {
            send(message("flush"));
        }

        /** Artifacts are the driver's to log (the spec, the model); a rank logs none. */
        @Override
        public void logArtifact(Path file, String artifactDir) {
            throw new UnsupportedOperationException("rank 0 logs no artifacts: the driver logs " + file);
        }

        /** The driver ends the run when the stage is over. */
        @Override
        public void finish(RunStatus status) {
        }

        @Override
        public synchronized void close() {
            try {
                out.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "rank 0: closing the report connection: " + e.getMessage());
            }
            RingEndpoint.closeQuietly(channel);
        }

        /** Collects bytes into lines, each sent as a warning. */
        private final class Lines extends OutputStream {
            private final ByteArrayOutputStream line = new ByteArrayOutputStream();

            @Override
            public synchronized void write(int b) {
                if (b == '\n') {
                    send(message("warning").put("text", line.toString(StandardCharsets.UTF_8)));
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        }
    }
}
