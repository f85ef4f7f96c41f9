package org.distillery.tracking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.distillery.core.DistilleryException;
import org.distillery.core.collective.CollectiveException;
import org.distillery.core.collective.RingEndpoint;
import org.distillery.core.collective.RunRelay;
import org.distillery.core.runs.LocalRunStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A distributed run's reports, relayed from rank 0 into the driver's real tracked run, whose store then fails. */
class RelayedRunTest {
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS) // only catches a hang: the test takes a second
    void aRunStoreThatFailsMidRunFailsTheRunLoudlyAndRankZerosNextReportThrows(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("runs");
        ByteArrayOutputStream warnings = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(warnings, true, StandardCharsets.UTF_8);
        TrackedRun run = TrackedRun.open(root, null, "relay", "train-relay", null, null, err);
        LocalRunStore store = new LocalRunStore(root);
        Path folder = store.runDir(run.meta());
        Path aside = tmp.resolve("aside");
        byte[] secret = RingEndpoint.newSecret();
        List<CollectiveException> heard = new ArrayList<>();
        try (RunRelay.Receiver driver = RunRelay.Receiver.listen(InetAddress.getLoopbackAddress(), secret, run,
                e -> { }, err)) {
            driver.onFailure(heard::add);
            try (RunRelay.Sender rank0 = RunRelay.Sender.connect(driver.address(), secret, run.runId(),
                    Duration.ofSeconds(60))) {
                rank0.logMetric("train/loss", 4.25, 3);
                rank0.flush();
                while (store.metrics(run.meta()).isEmpty()) { // applied by the driver's reader
                    Thread.sleep(10);
                }
                // the run's folder goes, and a file takes its place: no write into it can succeed
                Files.move(folder, aside);
                Files.writeString(folder, "not a folder");
                rank0.logMetric("train/loss", 4.0, 4); // buffered by TrackedRun
                rank0.flush(); // report line 4: the journal cannot be written
                DistilleryException thrown = assertThrows(DistilleryException.class, () -> {
                    for (long step = 5; ; step++) { // the driver's word comes back a moment later
                        rank0.logMetric("train/loss", 3.0, step);
                        Thread.sleep(10);
                    }
                });
                assertTrue(thrown.getMessage().startsWith("rank 0: the driver stopped the run: the run could not take"
                        + " rank 0's report line 4 from /127.0.0.1:"), thrown.getMessage());
                assertTrue(thrown.getMessage().contains(" (flush): cannot append metrics: "), thrown.getMessage());
                assertTrue(thrown.getMessage().contains(folder.toString()), thrown.getMessage());
            }
            CollectiveException e = assertThrows(CollectiveException.class, () -> driver.drain(Duration.ofSeconds(60)));
            assertEquals("rank 0: " + e.getMessage(), "rank 0: " + heard.get(0).getMessage());
            assertTrue(warnings.toString(StandardCharsets.UTF_8).contains("error: " + e.getMessage() + "\n"),
                    warnings.toString(StandardCharsets.UTF_8));
            assertTrue(e.getCause() instanceof DistilleryException, "the store's own error is the cause");
        } finally {
            if (Files.exists(aside)) { // the folder comes back, so the run can end (as FAILED)
                Files.delete(folder);
                Files.move(aside, folder);
            }
            run.close();
        }
    }
}
