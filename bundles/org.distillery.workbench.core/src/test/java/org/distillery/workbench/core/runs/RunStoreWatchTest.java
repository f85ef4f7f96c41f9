package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs written by the engine's own tracking code, as another process would, are noticed without polling. Each
 * wait ends as soon as the change is reported; its bound only catches a change never reported, however busy
 * the machine.
 */
class RunStoreWatchTest {
    private static final Duration NEVER = Duration.ofMinutes(3);

    @TempDir
    Path tmp;

    @Test
    void aNewRunItsMetricsAndItsEndAreEachNoticed() throws Exception {
        Path root = tmp.resolve("runs");
        LinkedBlockingQueue<List<Path>> seen = new LinkedBlockingQueue<>();
        try (RunStoreWatch watch = RunStoreWatch.start(root, seen::add)) {
            try (TrackedRun run = TrackedRun.open(root, null, "kd demo", "train-elsewhere", null, null, System.err)) {
                String meta = Path.of("kd_demo", run.runId(), "meta.json").toString();
                assertTrue(waitFor(seen, p -> p.toString().equals(meta)), "the new run's description");
                run.logMetric("train/loss", 3.0, 1);
                run.flush();
                String metrics = Path.of("kd_demo", run.runId(), "metrics.jsonl").toString();
                assertTrue(waitFor(seen, p -> p.toString().equals(metrics)), "its metrics");
                seen.clear();
                run.finish(RunStatus.FINISHED);
                assertTrue(waitFor(seen, p -> p.toString().equals(meta)), "its end");
            }
        }
    }

    @Test
    void aRunCreatedWhileNotificationsOverflowIsStillWatched() throws Exception {
        Path root = tmp.resolve("runs");
        Path exp = Files.createDirectories(root.resolve("exp"));
        LinkedBlockingQueue<List<Path>> seen = new LinkedBlockingQueue<>();
        CountDownLatch busy = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (RunStoreWatch watch = RunStoreWatch.start(root, paths -> {
            seen.add(paths);
            if (busy.getCount() > 0) { // the listener is slow once, as a busy UI thread would be
                busy.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        })) {
            Files.createFile(exp.resolve("first"));
            assertTrue(busy.await(NEVER.toSeconds(), TimeUnit.SECONDS), "the first change");
            // more changes than a watch key holds (512): the run folder's creation among those dropped
            for (int i = 0; i < 600; i++) {
                Files.createFile(exp.resolve("f" + i));
            }
            Path run = Files.createDirectories(exp.resolve("run1"));
            Files.createFile(exp.resolve("last"));
            release.countDown();
            assertTrue(waitFor(seen, p -> p.toString().isEmpty()), "the overflow");
            Files.writeString(run.resolve("metrics.jsonl"), "{}\n");
            assertTrue(waitFor(seen, p -> p.equals(Path.of("exp/run1/metrics.jsonl"))), "the new run's metrics");
        }
    }

    private static boolean waitFor(LinkedBlockingQueue<List<Path>> seen, java.util.function.Predicate<Path> wanted)
            throws InterruptedException {
        long end = System.nanoTime() + NEVER.toNanos();
        while (System.nanoTime() < end) {
            List<Path> batch = seen.poll(end - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (batch != null && batch.stream().anyMatch(wanted)) {
                return true;
            }
        }
        return false;
    }
}
