package org.distillery.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A job killed in the middle of an append leaves the last line of a journal (metrics.jsonl, artifacts.log)
 * without its newline. Readers skip it; a resumed run appends after the last whole line, not onto the torn one.
 */
class LocalRunStoreResumeTest {
    @TempDir
    Path tmp;

    private static void tear(Path file, int bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - bytes);
        }
    }

    private Path artifact(String name) throws IOException {
        return Files.writeString(tmp.resolve(name), name);
    }

    @Test
    void aResumedRunAppendsAfterTheLastWholeLine() throws IOException {
        Path root = tmp.resolve("runs");
        LocalRunStore store = new LocalRunStore(root);
        LocalRunStore.Meta meta = store.create("resume", "killed", null);
        store.appendMetrics(meta, List.of(new LocalRunStore.Metric("loss", 3.0, 1, 100),
                new LocalRunStore.Metric("loss", 2.0, 2, 200), new LocalRunStore.Metric("loss", 1.5, 3, 300)));
        store.copyArtifact(meta, artifact("a.txt"), null);
        store.copyArtifact(meta, artifact("b.txt"), null);
        Path run = store.runDir(meta);
        tear(run.resolve("metrics.jsonl"), 7); // the kill: step 3's line loses its end
        tear(run.resolve(LocalRunStore.ARTIFACT_JOURNAL), 3);
        assertEquals(List.of(1L, 2L), store.metrics(meta).stream().map(LocalRunStore.Metric::step).toList());
        assertEquals(List.of("a.txt"), store.loggedArtifacts(meta), "the torn entry skipped");

        LocalRunStore resumed = new LocalRunStore(root); // the resumed job: a new process
        LocalRunStore.Meta again = resumed.find(meta.runId());
        resumed.appendMetrics(again, List.of(new LocalRunStore.Metric("loss", 1.4, 3, 400),
                new LocalRunStore.Metric("acc", 0.5, 4, 500)));
        resumed.copyArtifact(again, artifact("c.txt"), null);

        assertEquals(List.of(new LocalRunStore.Metric("loss", 3.0, 1, 100), new LocalRunStore.Metric("loss", 2.0, 2, 200),
                new LocalRunStore.Metric("loss", 1.4, 3, 400), new LocalRunStore.Metric("acc", 0.5, 4, 500)),
                new LocalRunStore(root).metrics(again));
        assertEquals(List.of("a.txt", "c.txt"), new LocalRunStore(root).loggedArtifacts(again));
    }
}
