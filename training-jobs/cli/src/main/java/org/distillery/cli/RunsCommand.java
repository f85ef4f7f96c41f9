package org.distillery.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.tracking.MlflowSync;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "runs", description = "The local run store: list runs, sync them into an MLflow server.",
        subcommands = {RunsCommand.ListRuns.class, RunsCommand.Sync.class})
final class RunsCommand {
    @ParentCommand
    Distillery top;

    @Command(name = "list", description = "Runs in the local run store, oldest first.")
    static final class ListRuns implements Callable<Integer> {
        @ParentCommand
        RunsCommand runs;

        @Override
        public Integer call() {
            LocalRunStore store = new LocalRunStore(runs.top.runStore());
            System.out.printf("%-32s  %-20s  %-24s  %-9s  %s%n", "RUN", "EXPERIMENT", "NAME", "STATUS", "MLFLOW");
            for (LocalRunStore.Meta m : store.list()) {
                int metrics = store.metrics(m).size();
                String mlflow = m.mlflowRunId() == null ? "not synced"
                        : m.mlflowRunId() + (m.syncedMetrics() < metrics ? " (" + (metrics - m.syncedMetrics())
                        + " metrics behind)" : "") + " @ " + m.mlflowUri();
                System.out.printf("%-32s  %-20s  %-24s  %-9s  %s%n", m.runId(), m.experiment(), m.runName(), m.status(),
                        mlflow);
            }
            return 0;
        }
    }

    @Command(name = "sync", description = "Replay local runs into an MLflow tracking server (only what it lacks).")
    static final class Sync implements Callable<Integer> {
        @ParentCommand
        RunsCommand runs;

        @Option(names = "--to", required = true, description = "the MLflow tracking URI, e.g. http://127.0.0.1:5000")
        String uri;

        @Option(names = "--run", description = "only this run (default: every run)")
        String runId;

        @Override
        public Integer call() {
            LocalRunStore store = new LocalRunStore(runs.top.runStore());
            List<LocalRunStore.Meta> all = runId != null ? List.of(store.find(runId)) : store.list();
            int failed = 0;
            int synced = 0;
            try (MlflowSync sync = new MlflowSync(uri, store)) {
                for (LocalRunStore.Meta m : all) {
                    try {
                        LocalRunStore.Meta done = sync.sync(m);
                        synced++;
                        System.out.println(m.runId() + " -> " + done.mlflowRunId() + " (" + done.syncedMetrics()
                                + " metrics, " + done.syncedArtifacts() + " artifacts, " + done.status() + ")");
                    } catch (RuntimeException e) {
                        String unreachable = unreachable(e);
                        if (unreachable != null) { // the same for every run that follows: say it once
                            throw new DistilleryException("cannot reach the MLflow server at " + uri + ": " + unreachable
                                    + "; " + synced + " of " + all.size() + " runs synced; run the command again once it"
                                    + " answers (synced data is not sent twice)");
                        }
                        failed++;
                        System.err.println("error: " + m.runId() + ": " + e.getMessage());
                    }
                }
            }
            if (failed > 0) {
                throw new DistilleryException(failed + " of " + all.size() + " runs did not sync to " + uri
                        + "; run the command again once the server is reachable (synced data is not sent twice)");
            }
            return 0;
        }

        /** Why the server cannot be reached (no connection, unknown host, no answer), or null for another failure. */
        private static String unreachable(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof java.net.ConnectException) {
                    return "connection refused";
                }
                if (t instanceof java.net.UnknownHostException) {
                    return "unknown host " + t.getMessage();
                }
                if (t instanceof java.net.SocketTimeoutException || t instanceof java.net.NoRouteToHostException) {
                    return "no answer";
                }
            }
            return null;
        }
    }
}
