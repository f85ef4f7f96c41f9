package org.distillery.core.progress;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.Optional;

/**
 * One progress event of a job, written as one JSON line (schema {@value #SCHEMA}, documented in
 * docs/progress-events.md): one record per kind. The engine writes them and the workbench and scripts
 * read them through {@link #read}; nothing else couples them to a job.
 */
public sealed interface ProgressEvent {
    String SCHEMA = "distillery.progress/1";

    /** The job that sent it: {@code prep}, {@code train}, ... */
    String job();

    /** When it was sent, ISO-8601 UTC. */
    String ts();

    /** The kind as written in the {@code type} field. */
    String type();

    /** A step of the job starts: number {@code index} (from 1) of {@code stages}. */
    record Stage(String job, String ts, String stage, int index, int stages) implements ProgressEvent {
        @Override
        public String type() {
            return "stage";
        }
    }

    /** {@code done} of {@code total} {@code unit}s (0: unknown) within {@code stage}. */
    record Progress(String job, String ts, String stage, long done, long total, String unit) implements ProgressEvent {
        @Override
        public String type() {
            return "progress";
        }

        /** The fraction done in [0, 1]; -1 when the total is unknown. */
        public double fraction() {
            return total > 0 ? Math.min(1.0, (double) done / total) : -1;
        }
    }

    /** A named figure; {@code step} (else null) where it is one point of a curve, as in the run's tracked metrics. */
    record Metric(String job, String ts, String name, double value, Long step) implements ProgressEvent {
        @Override
        public String type() {
            return "metric";
        }
    }

    /** The job's tracked run is open: its id in the local run store, its experiment and name. */
    record Run(String job, String ts, String run, String experiment, String name) implements ProgressEvent {
        @Override
        public String type() {
            return "run";
        }
    }

    /**
     * The ranks of a distributed run have formed their ring: how many, which attempt of the Spark stage (0 first; a
     * retry resumes from the newest checkpoint), and each rank's address, by rank.
     */
    record Ranks(String job, String ts, int ranks, int attempt, java.util.List<String> addresses)
            implements ProgressEvent {
        public Ranks {
            addresses = java.util.List.copyOf(addresses);
        }

        @Override
        public String type() {
            return "ranks";
        }
    }

    /**
     * The job's Spark application: its id, the master it runs on, its web UI (null when the UI is off, as for
     * {@code local} masters) and how many executors it holds (0 on a {@code local} master, where the driver computes).
     * Sent when the application starts and whenever an executor joins or leaves.
     */
    record Cluster(String job, String ts, String application, String master, String ui, int executors)
            implements ProgressEvent {
        @Override
        public String type() {
            return "cluster";
        }
    }

    /** The job finished; {@code output} names what it wrote. */
    record Done(String job, String ts, String output) implements ProgressEvent {
        @Override
        public String type() {
            return "done";
        }
    }

    /** The job failed; {@code message} says why (also printed on stderr). */
    record Failed(String job, String ts, String message) implements ProgressEvent {
        @Override
        public String type() {
            return "failed";
        }
    }

    static Stage stage(String job, String stage, int index, int stages) {
        return new Stage(job, now(), stage, index, stages);
    }

    static Progress progress(String job, String stage, long done, long total, String unit) {
        return new Progress(job, now(), stage, done, total, unit);
    }

    static Metric metric(String job, String name, double value) {
        return new Metric(job, now(), name, value, null);
    }

    /** A point of a curve: the metric as the run tracks it at {@code step}. */
    static Metric metric(String job, String name, double value, long step) {
        return new Metric(job, now(), name, value, step);
    }

    /** The job's tracked run, so that a reader can match the job's live metrics to the run's stored ones. */
    static Run run(String job, String runId, String experiment, String runName) {
        return new Run(job, now(), runId, experiment, runName);
    }

    static Ranks ranks(String job, int ranks, int attempt, java.util.List<String> addresses) {
        return new Ranks(job, now(), ranks, attempt, addresses);
    }

    static Cluster cluster(String job, String application, String master, String ui, int executors) {
        return new Cluster(job, now(), application, master, ui, executors);
    }

    static Done done(String job, String output) {
        return new Done(job, now(), output);
    }

    static Failed failed(String job, String message) {
        return new Failed(job, now(), message);
    }

    /** The event as one line of JSON: {@code schema}, {@code ts}, {@code job}, {@code type}, then its own fields. */
    default String toJson() {
        ObjectNode n = EventJson.MAPPER.createObjectNode();
        n.put("schema", SCHEMA).put("ts", ts()).put("job", job()).put("type", type());
        if (this instanceof Stage s) {
            n.put("stage", s.stage()).put("index", s.index()).put("stages", s.stages());
        } else if (this instanceof Progress p) {
            n.put("stage", p.stage()).put("done", p.done()).put("total", p.total());
            if (p.unit() != null) {
                n.put("unit", p.unit());
            }
        } else if (this instanceof Metric m) {
            n.put("name", m.name()).put("value", m.value());
            if (m.step() != null) {
                n.put("step", m.step());
            }
        } else if (this instanceof Run r) {
            n.put("name", r.name()).put("run", r.run()).put("experiment", r.experiment());
        } else if (this instanceof Ranks r) {
            n.put("ranks", r.ranks()).put("attempt", r.attempt());
            r.addresses().forEach(n.putArray("addresses")::add);
        } else if (this instanceof Cluster c) {
            n.put("application", c.application()).put("master", c.master()).put("executors", c.executors());
            if (c.ui() != null) {
                n.put("ui", c.ui());
            }
        } else if (this instanceof Done d) {
            if (d.output() != null) {
                n.put("output", d.output());
            }
        } else if (this instanceof Failed f) {
            n.put("message", f.message());
        }
        try {
            return EventJson.MAPPER.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The event on a line of a job's output, or empty for any other line (console output) and for event
     * types this reader does not know (a newer engine's), which the schema says to skip. A line that claims
     * the schema but is not a well-formed event is an {@link IllegalArgumentException} naming the line
     * and what was expected.
     */
    static Optional<ProgressEvent> read(String line, long lineNumber) {
        String s = line.strip();
        if (!s.startsWith("{") || !s.contains(SCHEMA)) {
            return Optional.empty();
        }
        JsonNode n;
        try {
            n = EventJson.MAPPER.readTree(s);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("line " + lineNumber + ": a " + SCHEMA + " event that is not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (!SCHEMA.equals(n.path("schema").asText())) {
            return Optional.empty();
        }
        EventJson.Fields f = new EventJson.Fields(n, lineNumber);
        String job = f.text("job");
        String ts = n.path("ts").asText("");
        return Optional.ofNullable(switch (f.text("type")) {
            case "stage" -> new Stage(job, ts, f.text("stage"), (int) f.integer("index"), (int) f.integer("stages"));
            case "progress" -> new Progress(job, ts, f.text("stage"), f.integer("done"), n.path("total").asLong(0),
                    n.path("unit").asText(null));
            case "metric" -> new Metric(job, ts, f.text("name"), f.number("value"),
                    n.has("step") ? f.integer("step") : null);
            case "run" -> new Run(job, ts, f.text("run"), f.text("experiment"), f.text("name"));
            case "ranks" -> {
                java.util.List<String> addresses = new java.util.ArrayList<>();
                n.path("addresses").forEach(a -> addresses.add(a.asText()));
                yield new Ranks(job, ts, (int) f.integer("ranks"), (int) n.path("attempt").asLong(0), addresses);
            }
            case "cluster" -> new Cluster(job, ts, f.text("application"), f.text("master"), n.path("ui").asText(null),
                    (int) f.integer("executors"));
            case "done" -> new Done(job, ts, n.path("output").asText(null));
            case "failed" -> new Failed(job, ts, n.path("message").asText(""));
            default -> null;
        });
    }

    /** A line that must be an event of a known type ({@link #read} of line 1, or an error). */
    static ProgressEvent parse(String line) {
        return read(line, 1).orElseThrow(() -> new IllegalArgumentException("not a progress event: " + line));
    }

    private static String now() {
        return Instant.now().toString();
    }
}
