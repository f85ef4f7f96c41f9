package org.distillery.workbench.core.runs;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where to find one run again: its store (the local run store's folder or an MLflow server) and its id. What a
 * comparison keeps, so it can be read again after a restart.
 *
 * @param mlflow   whether the store is an MLflow tracking server
 * @param location the store's folder or URI
 * @param runId    the run's id in that store
 */
public record RunRef(boolean mlflow, String location, String runId) {
    /** The reference to {@code run} as {@code store} lists it. */
    public static RunRef of(RunStore store, RunInfo run) {
        return new RunRef(store instanceof MlflowRunStore, store.location(), run.id());
    }

    /** Writes this reference into {@code n}: what a saved comparison and the Runs view's saved ticks hold. */
    public com.fasterxml.jackson.databind.node.ObjectNode writeTo(com.fasterxml.jackson.databind.node.ObjectNode n) {
        return n.put("store", mlflow ? "mlflow" : "local").put("location", location).put("run_id", runId);
    }

    /** A reference written by {@link #writeTo}. */
    public static RunRef readFrom(com.fasterxml.jackson.databind.JsonNode n) {
        return new RunRef("mlflow".equals(n.path("store").asText()), n.path("location").asText(),
                n.path("run_id").asText());
    }

    /** A reader of the store. */
    public RunStore store() {
        return mlflow ? new MlflowRunStore(location) : new LocalRuns(Path.of(location));
    }

    /**
     * Reads the runs' params and metrics, each store listed once. A run its store no longer holds is an error naming
     * the store and the id.
     */
    public static RunComparison compare(List<RunRef> refs) {
        Map<RunRef, RunComparison.Member> read = new LinkedHashMap<>();
        Map<String, List<RunRef>> byStore = new LinkedHashMap<>();
        refs.forEach(r -> byStore.computeIfAbsent((r.mlflow ? "mlflow " : "local ") + r.location, k -> new ArrayList<>())
                .add(r));
        for (List<RunRef> same : byStore.values()) {
            RunStore store = same.get(0).store();
            List<RunInfo> runs = store.runs();
            for (RunRef r : same) {
                RunInfo info = runs.stream().filter(i -> i.id().equals(r.runId)).findFirst().orElseThrow(
                        () -> new RunStoreException("run " + r.runId + " is not in " + store.location() + " any more"));
                read.put(r, RunComparison.Member.read(store, info));
            }
        }
        return new RunComparison(refs.stream().map(read::get).toList());
    }
}
