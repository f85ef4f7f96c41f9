package org.distillery.core.runs;

import java.nio.file.Path;

/**
 * One side of {@link LocalRunStoreLockTest}, in a process of its own: adds one to a run's synced-metrics count
 * {@code n} times, each a reload-change-write of its description, as a live run and a sync each do.
 */
public final class MetaRacer {
    private MetaRacer() {
    }

    public static void main(String[] args) {
        LocalRunStore store = new LocalRunStore(Path.of(args[0]));
        LocalRunStore.Meta meta = store.find(args[1]);
        int n = Integer.parseInt(args[2]);
        for (int i = 0; i < n; i++) {
            meta = store.update(meta, m -> m.withSync("http://race", "r", m.syncedMetrics() + 1, m.syncedParams(),
                    m.syncedArtifacts()));
        }
    }
}
