package org.distillery.core.collective;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
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

    /** The driver's end: accepts rank 0 (again after a stage retry) and applies what it sends to the run. */
    public static final class Receiver implements AutoCloseable {
        /** How long a connection may take to prove it is rank 0. */
        static final Duration PATIENCE = Duration.ofSeconds(30);

        private final ServerSocketChannel server;
        private final RunTracker run;
        private final ProgressListener progress;
        private final PrintStream warnings;
        private final HandshakeGate gate;
        private volatile SocketChannel current;

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
            try (BufferedReader in = new BufferedReader(new InputStreamReader(c.socket().getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    apply(JSON.readTree(line));
                }
            } catch (IOException e) {
                if (c == current) {
                    LOG.log(System.Logger.Level.DEBUG, "rank 0's reports ended: " + e.getMessage());
                }
            } finally {
                RingEndpoint.closeQuietly(c); // drain() waits for this
            }
        }

        private synchronized void apply(JsonNode m) {
            switch (m.path("kind").asText()) {
                case "event" -> ProgressEvent.read(m.path("event").asText(), 1).ifPresent(progress::on);
                case "metric" -> run.logMetric(m.path("key").asText(), m.path("value").asDouble(),
                        m.path("step").asLong());
                case "params" -> run.logParams(strings(m.path("map")));
                case "tags" -> run.setTags(strings(m.path("map")));
                case "flush" -> run.flush();
                case "warning" -> warnings.println(m.path("text").asText());
                default -> LOG.log(System.Logger.Level.WARNING, "rank 0 sent a report of unknown kind: " + m);
            }
        }

        private static Map<String, String> strings(JsonNode map) {
            Map<String, String> out = new TreeMap<>();
            map.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
            return out;
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
         * driver calls it when the stage has ended, before it reads the run's last figures.
         */
        public void drain(Duration timeout) {
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
        }
    }

    /** Rank 0's end: a tracker and a progress listener whose calls go to the driver's run. */
    public static final class Sender implements RunTracker, ProgressListener {
        private final SocketChannel channel;
        private final Writer out;
        private final String runId;
        private final PrintStream warnings;
        private boolean broken;

        private Sender(SocketChannel channel, String runId) throws IOException {
            this.channel = channel;
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
                return new Sender(c, runId);
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
            if (broken) {
                return;
            }
            try {
                out.write(JSON.writeValueAsString(m));
                out.write('\n');
                out.flush();
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            } catch (IOException e) {
                broken = true; // the driver is gone: Spark ends this task too; the job must not fail on its reports
                LOG.log(System.Logger.Level.WARNING, "rank 0: the driver stopped taking reports: " + e.getMessage());
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
