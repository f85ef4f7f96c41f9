package org.distillery.core.runs;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.FileAccessException;

/**
 * Runs kept on disk when no MLflow server is configured, or while one is unreachable; {@code distillery
 * runs sync} replays them into a server later. Layout (format {@value #FORMAT}, docs/formats.md):
 *
 * <pre>
 * &lt;root&gt;/&lt;experiment&gt;/&lt;run id&gt;/meta.json      run id, name, parent, status, times, sync state
 *                                   params.json    {key: value}
 *                                   tags.json      {key: value}
 *                                   metrics.jsonl  one {"key","value","step","timestamp"} per line, appended
 *                                   artifacts/     files, as logged
 *                                   artifacts.log  their paths in the order logged, appended
 * </pre>
 *
 * JSON files are replaced atomically; metric lines are appended and flushed one batch at a time, so a
 * killed job loses at most an unfinished last line, which readers skip and the next append (a resumed run)
 * cuts off before it writes.
 */
public final class LocalRunStore {
    public static final String FORMAT = "distillery.runs/1";
    /** The artifacts in the order they were logged: what a mirror has sent is a prefix of it. */
    static final String ARTIFACT_JOURNAL = "artifacts.log";
    static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final ObjectMapper LINE = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final Path root;

    public LocalRunStore(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    /**
     * A run's description; {@code mlflowRunId}, {@code syncedMetrics}, {@code syncedParams} (keys) and
     * {@code syncedArtifacts} record how far it reached a server.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Meta(String format, String runId, String experiment, String runName, String parentRunId,
                       String status, long startTime, Long endTime, String mlflowUri, String mlflowRunId,
                       long syncedMetrics, List<String> syncedParams, int syncedArtifacts) {
        public Meta {
            syncedParams = syncedParams == null ? List.of() : List.copyOf(syncedParams);
        }

        public Meta withStatus(String s, Long end) {
            return new Meta(format, runId, experiment, runName, parentRunId, s, startTime, end, mlflowUri, mlflowRunId,
                    syncedMetrics, syncedParams, syncedArtifacts);
        }

        public Meta withSync(String uri, String mlflowId, long metrics, List<String> params, int artifacts) {
            return new Meta(format, runId, experiment, runName, parentRunId, status, startTime, endTime, uri, mlflowId,
                    metrics, params, artifacts);
        }
    }

    public record Metric(String key, double value, long step, long timestamp) {
    }

    public Meta create(String experiment, String runName, String parentRunId) {
        String id = UUID.randomUUID().toString().replace("-", "");
        Meta meta = new Meta(FORMAT, id, experiment, runName, parentRunId, "RUNNING", System.currentTimeMillis(), null,
                null, null, 0, List.of(), 0);
        writeMeta(meta);
        return meta;
    }

    public Path runDir(Meta meta) {
        return root.resolve(safe(meta.experiment())).resolve(meta.runId());
    }

    /** Finds a run by id in any experiment. */
    public Meta find(String runId) {
        for (Meta m : list()) {
            if (m.runId().equals(runId) || runId.equals(m.mlflowRunId())) {
                return m;
            }
        }
        throw new DistilleryException("no run " + runId + " in the local run store " + root);
    }

    /** A run's description, read from its own folder: no listing of the store. */
    public Meta find(String experiment, String runId) {
        return readMeta(root.resolve(safe(experiment)).resolve(runId).resolve("meta.json"));
    }

    public List<Meta> list() {
        List<Meta> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (Stream<Path> exps = Files.list(root)) {
            for (Path exp : exps.filter(Files::isDirectory).sorted().toList()) {
                try (Stream<Path> runs = Files.list(exp)) {
                    for (Path run : runs.filter(p -> Files.exists(p.resolve("meta.json"))).sorted().toList()) {
                        out.add(readMeta(run.resolve("meta.json")));
                    }
                }
            }
        } catch (IOException e) {
            throw new DistilleryException(root + ": cannot list runs: " + e.getMessage(), e);
        }
        out.sort((a, b) -> Long.compare(a.startTime(), b.startTime()));
        return out;
    }

    private static Meta readMeta(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (!FORMAT.equals(n.path("format").asText())) {
                throw new DistilleryException(file + ": format is '" + n.path("format").asText() + "', expected " + FORMAT);
            }
            for (String field : List.of("run_id", "experiment", "status")) {
                JsonNode v = n.get(field);
                if (v == null || !v.isTextual()) {
                    throw new DistilleryException(file + ": field " + field + " is " + (v == null ? "missing" : v)
                            + ", expected a string");
                }
            }
            return JSON.treeToValue(n, Meta.class);
        } catch (IOException e) {
            throw new DistilleryException(file + ": not a readable run description: " + e.getMessage(), e);
        }
    }

    public synchronized void writeMeta(Meta meta) {
        write(runDir(meta).resolve("meta.json"), meta);
    }

    /** One monitor per lock file: a JVM may hold a file's lock once only (a second lock would throw). */
    private static final java.util.concurrent.ConcurrentHashMap<Path, Object> IN_THIS_JVM =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Reloads the run's description, applies {@code change} and writes it back, holding a lock on the run's
     * {@code .meta.lock} the whole time, across processes: a live run (its status) and a {@code runs sync}
     * (its sync fields) each change their own fields, and neither writes back a stale copy of the other's.
     */
    public Meta update(Meta meta, java.util.function.UnaryOperator<Meta> change) {
        Path dir = runDir(meta);
        Path lockFile = dir.resolve(".meta.lock");
        synchronized (IN_THIS_JVM.computeIfAbsent(lockFile.toAbsolutePath().normalize(), k -> new Object())) {
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lockFile,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
                 java.nio.channels.FileLock held = ch.lock()) {
                Meta next = change.apply(readMeta(dir.resolve("meta.json")));
                write(dir.resolve("meta.json"), next);
                return next;
            } catch (IOException e) {
                throw new DistilleryException(lockFile + ": cannot lock the run's description: " + e.getMessage(), e);
            }
        }
    }

    public synchronized Meta reload(Meta meta) {
        return readMeta(runDir(meta).resolve("meta.json"));
    }

    public Map<String, String> params(Meta meta) {
        return readMap(runDir(meta).resolve("params.json"));
    }

    public Map<String, String> tags(Meta meta) {
        return readMap(runDir(meta).resolve("tags.json"));
    }

    public synchronized void putParams(Meta meta, Map<String, String> params) {
        Map<String, String> all = new TreeMap<>(params(meta));
        all.putAll(params);
        write(runDir(meta).resolve("params.json"), all);
    }

    public synchronized void putTags(Meta meta, Map<String, String> tags) {
        Map<String, String> all = new TreeMap<>(tags(meta));
        all.putAll(tags);
        write(runDir(meta).resolve("tags.json"), all);
    }

    public synchronized void appendMetrics(Meta meta, List<Metric> metrics) {
        if (metrics.isEmpty()) {
            return;
        }
        StringBuilder s = new StringBuilder();
        try {
            for (Metric m : metrics) {
                s.append(LINE.writeValueAsString(m)).append('\n');
            }
        } catch (IOException e) {
            throw new DistilleryException(runDir(meta) + ": cannot encode metrics: " + e.getMessage(), e);
        }
        append(runDir(meta).resolve("metrics.jsonl"), s.toString(), "metrics");
    }

    /**
     * Appends {@code text} to a journal file of the run and syncs it. A last line without its newline is what a
     * killed append left (readers skip it): it is cut off first, else a resumed run's text would be glued onto
     * it and the joined line would be unreadable.
     */
    private static void append(Path file, String text, String what) {
        try {
            Files.createDirectories(file.getParent());
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE)) {
                long end = wholeLines(ch);
                if (end < ch.size()) {
                    ch.truncate(end);
                }
                ch.position(end);
                AtomicFile.writeFully(ch, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
                ch.force(false);
            }
        } catch (IOException e) {
            throw new DistilleryException("cannot append " + what + ": " + FileAccessException.of(file, e).getMessage(), e);
        }
    }

    /** The length of a journal up to and with its last newline: what is left once a torn last line is cut off. */
    private static long wholeLines(FileChannel ch) throws IOException {
        ByteBuffer block = ByteBuffer.allocate(4096);
        long end = ch.size();
        while (end > 0) {
            long start = Math.max(0, end - block.capacity());
            block.clear().limit((int) (end - start));
            while (block.hasRemaining() && ch.read(block, start + block.position()) >= 0) {
                // read the whole block
            }
            for (int i = block.position() - 1; i >= 0; i--) {
                if (block.get(i) == '\n') {
                    return start + i + 1;
                }
            }
            end = start;
        }
        return 0;
    }

    /** Every complete metric line, in the order logged. */
    public List<Metric> metrics(Meta meta) {
        Path file = runDir(meta).resolve("metrics.jsonl");
        List<Metric> out = new ArrayList<>();
        if (!Files.exists(file)) {
            return out;
        }
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8);
            int start = 0;
            int nl;
            long number = 0;
            while ((nl = text.indexOf('\n', start)) >= 0) { // an unterminated last line is a killed write: skip it
                String line = text.substring(start, nl);
                start = nl + 1;
                number++;
                if (!line.isBlank()) {
                    out.add(metric(file, number, line));
                }
            }
        } catch (IOException e) {
            throw new DistilleryException(file + ": unreadable metrics: " + e.getMessage(), e);
        }
        return out;
    }

    private static Metric metric(Path file, long number, String line) {
        Metric m;
        try {
            m = LINE.readValue(line, Metric.class);
        } catch (IOException e) {
            m = null;
        }
        if (m == null || m.key() == null) {
            throw new DistilleryException(file + ": line " + number + " is no metric, expected "
                    + "{\"key\", \"value\", \"step\", \"timestamp\"}");
        }
        return m;
    }

    public Path artifactsDir(Meta meta) {
        return runDir(meta).resolve("artifacts");
    }

    /** Artifact files relative to the artifacts folder, sorted. */
    public List<String> artifacts(Meta meta) {
        Path dir = artifactsDir(meta);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString().replace('\\', '/'))
                    .filter(p -> !p.contains("/.") && !p.startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new DistilleryException(dir + ": cannot list artifacts: " + e.getMessage(), e);
        }
    }

    /**
     * Artifact files in the order they were logged, one entry per logging (a file logged again comes
     * again, so its new content is mirrored too). A mirror that has sent the first n need only send
     * the rest: sorted names would not do, a later file can sort before earlier ones. Runs from before
     * the journal existed list their files sorted.
     */
    public List<String> loggedArtifacts(Meta meta) {
        Path journal = runDir(meta).resolve(ARTIFACT_JOURNAL);
        if (!Files.exists(journal)) {
            return artifacts(meta);
        }
        try {
            String text = Files.readString(journal, StandardCharsets.UTF_8);
            // an unterminated last line is a killed append: skip it, as metrics() does
            return text.substring(0, text.lastIndexOf('\n') + 1).lines().filter(l -> !l.isEmpty()).toList();
        } catch (IOException e) {
            throw new DistilleryException(journal + ": unreadable: " + e.getMessage(), e);
        }
    }

    public void copyArtifact(Meta meta, Path file, String artifactDir) {
        Path target = artifactsDir(meta).resolve(artifactDir == null ? "" : artifactDir).resolve(file.getFileName().toString());
        try {
            Files.createDirectories(target.getParent());
            AtomicFile.write(target, out -> Files.copy(file, out));
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot copy into the run's artifacts: " + e.getMessage(), e);
        }
        String relative = artifactsDir(meta).relativize(target).toString().replace('\\', '/');
        append(runDir(meta).resolve(ARTIFACT_JOURNAL), relative + "\n", "to the artifact journal");
    }

    private static Map<String, String> readMap(Path file) {
        if (!Files.exists(file)) {
            return new TreeMap<>();
        }
        try {
            return JSON.readValue(file.toFile(), new TypeReference<TreeMap<String, String>>() { });
        } catch (IOException e) {
            throw new DistilleryException(file + ": unreadable: " + e.getMessage(), e);
        }
    }

    private static void write(Path file, Object value) {
        try {
            AtomicFile.write(file, JSON.writeValueAsBytes(value));
        } catch (IOException e) {
            throw new DistilleryException("cannot write the run store: " + FileAccessException.of(file, e).getMessage(), e);
        }
    }

    /** An experiment name as a folder name. */
    static String safe(String name) {
        return name.replaceAll("[^A-Za-z0-9._-]", "_");
    }
}
