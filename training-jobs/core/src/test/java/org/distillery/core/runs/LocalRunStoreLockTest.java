package org.distillery.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A live run and a {@code runs sync} are two processes that reload, change and write the same meta.json. Two
 * processes and a thread here each add one to a count a few hundred times: any update lost to a stale copy
 * shows as a total short of the sum (without the file lock, hundreds were lost).
 */
class LocalRunStoreLockTest {
    @TempDir
    Path tmp;

    @Test
    void twoProcessesAndAThreadLoseNoUpdate() throws Exception {
        LocalRunStore store = new LocalRunStore(tmp.resolve("runs"));
        LocalRunStore.Meta meta = store.create("race", "live", null);
        int each = 300;
        List<Process> racers = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            racers.add(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), MetaRacer.class.getName(), tmp.resolve("runs").toString(),
                    meta.runId(), String.valueOf(each)).inheritIO().start());
        }
        LocalRunStore.Meta mine = meta;
        for (int i = 0; i < each; i++) {
            mine = store.update(mine, m -> m.withSync("http://race", "r", m.syncedMetrics() + 1, m.syncedParams(),
                    m.syncedArtifacts()));
        }
        for (Process p : racers) {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "a racer did not end");
            assertEquals(0, p.exitValue());
        }
        assertEquals(3L * each, store.find(meta.runId()).syncedMetrics(), "every update kept");
    }
}
