package org.distillery.workbench.core.runs;

import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Where tracked runs are read from: the engine's local run store, or an MLflow tracking server. Reads
 * only; the engine's jobs are the writers. Errors are {@link RunStoreException}s naming the store and
 * what could not be read.
 */
public interface RunStore {
    /** The folder or URI, for titles and messages. */
    String location();

    /** Every run of every experiment, oldest first. */
    List<RunInfo> runs();

    Map<String, String> params(RunInfo run);

    /**
     * Each metric's points in step order, with the time each was logged; a step logged twice (a resumed run redoing
     * it) keeps the last value.
     */
    Map<String, List<MetricPoint>> history(RunInfo run);

    /** Each metric's curve by step: {@link #history} without the times. */
    default Map<String, SortedMap<Long, Double>> metrics(RunInfo run) {
        Map<String, SortedMap<Long, Double>> out = new TreeMap<>();
        history(run).forEach((key, points) -> {
            SortedMap<Long, Double> curve = new TreeMap<>();
            points.forEach(p -> curve.put(p.step(), p.value()));
            out.put(key, curve);
        });
        return out;
    }
}
