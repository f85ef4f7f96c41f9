package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.ByteSize;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.tracking.MlflowSync;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "runs", description = "The local run store: list runs, show one, sync them into an MLflow server.",
        subcommands = {RunsCommand.ListRuns.class, RunsCommand.Show.class, RunsCommand.Sync.class})
final class RunsCommand {
    static final String LIST_FORMAT = "distillery.runs-list/1";
    static final String SHOW_FORMAT = "distillery.run/1";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final DateTimeFormatter STARTED = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")
            .withZone(ZoneId.systemDefault());
    /** The metrics a listing shows, when a run has them. */
    private static final List<String> KEY_METRICS = List.of("train/loss", "val/loss");

    @ParentCommand
    Distillery top;

    LocalRunStore store() {
        return new LocalRunStore(top.runStore());
    }

    /** What a listing says on stderr when the store holds no run: where it looked, and why there. */
    void sayEmpty() {
        System.err.println("note: no runs in " + top.runStore() + "; " + top.workDirNote());
    }

    /** One run as a listing and {@code runs show} describe it: its figures worked out once. */
    record Summary(LocalRunStore.Meta meta, Map<String, LocalRunStore.Metric> last, Map<String, Integer> points,
                   String output) {
        static Summary of(LocalRunStore store, LocalRunStore.Meta m) {
            Map<String, LocalRunStore.Metric> last = new TreeMap<>();
            Map<String, Integer> points = new TreeMap<>();
            for (LocalRunStore.Metric x : store.metrics(m)) { // later lines win, as the store's readers agree
                LocalRunStore.Metric seen = last.get(x.key());
                if (seen == null || x.step() >= seen.step()) {
                    last.put(x.key(), x);
                }
                points.merge(x.key(), 1, Integer::sum);
            }
            return new Summary(m, last, points, store.tags(m).get(TrainingLaunch.OUTPUT_TAG));
        }

        int metricPoints() {
            return points.values().stream().mapToInt(Integer::intValue).sum();
        }

        /** How long it ran: till its end, or till now while it runs. */
        Duration duration() {
            long end = meta.endTime() != null ? meta.endTime() : System.currentTimeMillis();
            return Duration.ofMillis(Math.max(0, end - meta.startTime()));
        }

        /** Metric points the MLflow copy lacks: all of them before the first sync. */
        int metricsBehind() {
            return meta.mlflowRunId() == null ? metricPoints() : Math.max(0, metricPoints() - (int) meta.syncedMetrics());
        }

        String mlflow() {
            LocalRunStore.Meta m = meta;
            if (m.mlflowRunId() == null) {
                return "not synced";
            }
            int behind = metricsBehind();
            return m.mlflowRunId() + (behind > 0 ? " (" + behind + " metrics behind)" : "") + " @ " + m.mlflowUri();
        }

        ObjectNode toJson() {
            LocalRunStore.Meta m = meta;
            ObjectNode n = JSON.createObjectNode().put("run_id", m.runId()).put("experiment", m.experiment())
                    .put("name", m.runName()).put("parent_run_id", m.parentRunId()).put("status", m.status())
                    .put("start_time", Instant.ofEpochMilli(m.startTime()).toString())
                    .put("end_time", m.endTime() == null ? null : Instant.ofEpochMilli(m.endTime()).toString())
                    .put("duration_s", duration().toMillis() / 1000.0).put("output", output);
            ObjectNode metrics = n.putObject("metrics");
            last.forEach((k, v) -> metrics.putObject(k).put("value", v.value()).put("step", v.step())
                    .put("points", points.get(k)));
            n.putObject("mlflow").put("uri", m.mlflowUri()).put("run_id", m.mlflowRunId())
                    .put("metrics_behind", metricsBehind());
            return n;
        }
    }

    /** {@code 45s}, {@code 3m 07s}, {@code 2h 05m}. */
    static String human(Duration d) {
        long s = d.toSeconds();
        if (s < 60) {
            return s + "s";
        }
        if (s < 3600) {
            return String.format(Locale.ROOT, "%dm %02ds", s / 60, s % 60);
        }
        return String.format(Locale.ROOT, "%dh %02dm", s / 3600, s / 60 % 60);
    }

    private static String metric(Summary s, String key) {
        LocalRunStore.Metric m = s.last().get(key);
        return m == null ? "-" : String.format(Locale.ROOT, "%.4f", m.value());
    }

    @Command(name = "list", description = "Runs in the local run store, oldest first: when each started, how long it"
            + " ran, its status, last train and val loss, output folder and MLflow copy.")
    static final class ListRuns implements Callable<Integer> {
        @ParentCommand
        RunsCommand runs;

        @Option(names = "--json", description = "one JSON document (" + LIST_FORMAT + ")")
        boolean json;

        @Override
        public Integer call() throws IOException {
            LocalRunStore store = runs.store();
            List<Summary> all = store.list().stream().map(m -> Summary.of(store, m)).toList();
            if (all.isEmpty()) {
                runs.sayEmpty();
            }
            if (json) {
                ObjectNode out = JSON.createObjectNode().put("format", LIST_FORMAT).put("store", store.root().toString());
                ArrayNode list = out.putArray("runs");
                all.forEach(s -> list.add(s.toJson()));
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
                return 0;
            }
            if (all.isEmpty()) {
                return 0;
            }
            String row = "%-32s  %-16s  %-22s  %-9s  %-19s  %8s  %10s  %8s  %s  %s%n";
            System.out.printf(row, "RUN", "EXPERIMENT", "NAME", "STATUS", "STARTED", "DURATION", "TRAIN LOSS",
                    "VAL LOSS", "OUTPUT", "MLFLOW");
            for (Summary s : all) {
                LocalRunStore.Meta m = s.meta();
                System.out.printf(row, m.runId(), m.experiment(), m.runName(), m.status(),
                        STARTED.format(Instant.ofEpochMilli(m.startTime())), human(s.duration()),
                        metric(s, KEY_METRICS.get(0)), metric(s, KEY_METRICS.get(1)),
                        s.output() != null ? s.output() : "-", s.mlflow());
            }
            return 0;
        }
    }

    @Command(name = "show", description = "One run: its status and times, params, the last value of each metric,"
            + " tags and artifacts.")
    static final class Show implements Callable<Integer> {
        @ParentCommand
        RunsCommand runs;

        @Parameters(paramLabel = "RUN", description = "a run id, or the start of one (as runs list shows them), or its"
                + " MLflow run id")
        String runId;

        @Option(names = "--json", description = "one JSON document (" + SHOW_FORMAT + ")")
        boolean json;

        @Override
        public Integer call() throws IOException {
            LocalRunStore store = runs.store();
            List<LocalRunStore.Meta> all = store.list();
            List<LocalRunStore.Meta> found = all.stream().filter(m -> m.runId().equals(runId)
                    || runId.equals(m.mlflowRunId())).toList();
            if (found.isEmpty()) {
                found = all.stream().filter(m -> m.runId().startsWith(runId)).toList();
            }
            if (found.isEmpty()) {
                throw new DistilleryException("no run " + runId + " in " + store.root() + (all.isEmpty()
                        ? ", which holds no runs; " + runs.top.workDirNote() : "; runs list shows the ones there"));
            }
            if (found.size() > 1) {
                throw new DistilleryException("run " + runId + " is ambiguous: " + found.size() + " runs start so ("
                        + String.join(", ", found.stream().map(LocalRunStore.Meta::runId).toList()) + ")");
            }
            LocalRunStore.Meta m = found.get(0);
            Summary s = Summary.of(store, m);
            Map<String, String> params = store.params(m);
            Map<String, String> tags = store.tags(m);
            List<String> artifacts = store.artifacts(m);
            if (json) {
                ObjectNode out = s.toJson().put("format", SHOW_FORMAT);
                ObjectNode p = out.putObject("params");
                params.forEach(p::put);
                ObjectNode t = out.putObject("tags");
                tags.forEach(t::put);
                ArrayNode a = out.putArray("artifacts");
                for (String f : artifacts) {
                    a.addObject().put("path", f).put("bytes", Files.size(store.artifactsDir(m).resolve(f)));
                }
                System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(out));
                return 0;
            }
            System.out.println("run            " + m.runId());
            System.out.println("experiment     " + m.experiment());
            System.out.println("name           " + m.runName());
            if (m.parentRunId() != null) {
                System.out.println("parent         " + m.parentRunId());
            }
            System.out.println("status         " + m.status());
            System.out.println("started        " + STARTED.format(Instant.ofEpochMilli(m.startTime())) + ", "
                    + (m.endTime() != null ? "ran " : "running for ") + human(s.duration()));
            System.out.println("output         " + (s.output() != null ? s.output() : "-"));
            System.out.println("mlflow         " + s.mlflow());
            System.out.println("folder         " + store.runDir(m));
            printSection("params", params);
            Map<String, String> metrics = new java.util.LinkedHashMap<>();
            s.last().forEach((k, v) -> metrics.put(k, String.format(Locale.ROOT, "%.6g at step %d (%d)", v.value(),
                    v.step(), s.points().get(k))));
            printSection("metrics (last value, its step, points logged)", metrics);
            printSection("tags", tags);
            Map<String, String> files = new java.util.LinkedHashMap<>();
            for (String f : artifacts) {
                files.put(f, String.format("%10s", ByteSize.human(Files.size(store.artifactsDir(m).resolve(f)))));
            }
            printSection("artifacts", files);
            return 0;
        }
    }

    /** A blank line, a heading, then one {@code name  value} line per entry, the names in one column. */
    static void printSection(String heading, Map<String, String> entries) {
        System.out.println();
        System.out.println(heading);
        int width = entries.keySet().stream().mapToInt(String::length).max().orElse(0);
        entries.forEach((k, v) -> System.out.printf("  %-" + width + "s  %s%n", k, v));
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
            LocalRunStore store = runs.store();
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
