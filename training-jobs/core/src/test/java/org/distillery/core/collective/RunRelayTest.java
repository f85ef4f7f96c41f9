package org.distillery.core.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.tracking.RunStatus;
import org.distillery.core.tracking.RunTracker;
import org.junit.jupiter.api.Test;

/** Rank 0's reports reach the driver's run over a real loopback connection; nobody else's do. */
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
                rank0.flush();
                rank0.warnings().println("warning: something to know");
            }
            driver.drain(Duration.ofSeconds(10));
            assertEquals(List.of("params {model.n_layer=2}", "tags {distillery.ranks=2}", "metric train/loss=4.25@3",
                    "flush"), run.calls);
            assertEquals(1, events.size());
            assertTrue(events.get(0) instanceof ProgressEvent.Progress p && p.done() == 3 && p.total() == 10,
                    events.toString());
            assertEquals("warning: something to know\n", warnings.toString(StandardCharsets.UTF_8));
            assertEquals(1, driver.refused());
        }
    }
}
