package org.distillery.workbench.core.runs;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.distillery.core.DistilleryException;
import org.distillery.core.runs.LocalRunStore;

/**
 * The runs of the engine's local run store ({@code <work-dir>/runs}), read through the engine's own
 * {@link LocalRunStore}: one reader of the format for both. A run still being written reads as it stands
 * (a last metric line cut short is skipped, as everywhere).
 */
public final class LocalRuns implements RunStore {
    private final LocalRunStore store;

    public LocalRuns(Path root) {
        this.store = new LocalRunStore(root);
    }

    @Override
    public String location() {
        return store.root().toString();
    }

    @Override
    public List<RunInfo> runs() {
        return read(() -> store.list().stream().map(LocalRuns::info).toList());
    }

    private static RunInfo info(LocalRunStore.Meta m) {
        return new RunInfo(m.runId(), m.experiment(), m.runName() != null ? m.runName() : m.runId(), m.status(),
                m.startTime(), m.endTime() != null ? m.endTime() : 0, m.parentRunId(), m.runId());
    }

    @Override
    public Map<String, String> params(RunInfo run) {
        return read(() -> new TreeMap<>(store.params(store.find(run.experiment(), run.id()))));
    }

    @Override
    public Map<String, List<MetricPoint>> history(RunInfo run) {
        return read(() -> {
            Map<String, SortedMap<Long, MetricPoint>> byStep = new TreeMap<>();
            for (LocalRunStore.Metric m : store.metrics(store.find(run.experiment(), run.id()))) {
                byStep.computeIfAbsent(m.key(), k -> new TreeMap<>())
                        .put(m.step(), new MetricPoint(m.step(), m.value(), m.timestamp()));
            }
            Map<String, List<MetricPoint>> out = new TreeMap<>();
            byStep.forEach((k, v) -> out.put(k, List.copyOf(v.values())));
            return out;
        });
    }

    /** The engine's errors already name the file and what was expected; views catch this store's type. */
    private static <T> T read(Supplier<T> reading) {
        try {
            return reading.get();
        } catch (DistilleryException e) {
            throw new RunStoreException(e.getMessage(), e);
        }
    }
}
