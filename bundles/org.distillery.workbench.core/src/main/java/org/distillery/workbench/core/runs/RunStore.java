package org.distillery.workbench.core.runs;

import java.util.List;
import java.util.Map;
import java.util.SortedMap;

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

    /** Each metric's curve by step; a step logged twice (a resumed run redoing it) keeps the last value. */
    Map<String, SortedMap<Long, Double>> metrics(RunInfo run);
}
