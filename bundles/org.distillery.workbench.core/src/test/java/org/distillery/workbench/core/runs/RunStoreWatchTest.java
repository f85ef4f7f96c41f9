package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.distillery.core.tracking.RunStatus;
import org.distillery.tracking.TrackedRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs written by the engine's own tracking code, as another process would, are noticed without polling. */
class RunStoreWatchTest {
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

    private static boolean waitFor(LinkedBlockingQueue<List<Path>> seen, java.util.function.Predicate<Path> wanted)
            throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < end) {
            List<Path> batch = seen.poll(end - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (batch != null && batch.stream().anyMatch(wanted)) {
                return true;
            }
        }
        return false;
    }
}
