package org.distillery.workbench.core.runs;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The engine's local run store ({@code <work-dir>/runs}, format {@value #FORMAT}, docs/formats.md):
 * {@code <experiment>/<run id>/meta.json}, {@code params.json} and {@code metrics.jsonl}, which a running
 * job appends to. A last line cut short by a killed job is skipped, as the engine's own reader does.
 */
public final class LocalRunStore implements RunStore {
    public static final String FORMAT = "distillery.runs/1";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path root;

    public LocalRunStore(Path root) {
        this.root = root;
    }

    @Override
    public String location() {
        return root.toString();
    }

    @Override
    public List<RunInfo> runs() {
        List<RunInfo> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (Stream<Path> exps = Files.list(root)) {
            for (Path exp : exps.filter(Files::isDirectory).sorted().toList()) {
                try (Stream<Path> runs = Files.list(exp)) {
                    for (Path meta : runs.map(r -> r.resolve("meta.json")).filter(Files::isRegularFile).sorted().toList()) {
                        out.add(readMeta(meta));
                    }
                }
            }
        } catch (IOException e) {
            throw new RunStoreException(root + ": cannot list runs: " + e.getMessage(), e);
        }
        out.sort(Comparator.comparingLong(RunInfo::startTime));
        return out;
    }

    private static RunInfo readMeta(Path file) {
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new RunStoreException(file + ": not a readable run description: " + e.getMessage(), e);
        }
        if (!FORMAT.equals(n.path("format").asText())) {
            throw new RunStoreException(file + ": format is '" + n.path("format").asText() + "', expected " + FORMAT);
        }
        String id = text(n, "run_id", file);
        return new RunInfo(id, text(n, "experiment", file), n.path("run_name").asText(id), text(n, "status", file),
                n.path("start_time").asLong(), n.path("end_time").asLong(0), n.path("parent_run_id").asText(null), id);
    }

    private static String text(JsonNode n, String field, Path file) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual()) {
            throw new RunStoreException(file + ": field " + field + " is " + (v == null ? "missing" : v) + ", expected a string");
        }
        return v.asText();
    }

    private Path dir(RunInfo run) {
        return root.resolve(run.experiment().replaceAll("[^A-Za-z0-9._-]", "_")).resolve(run.id());
    }

    @Override
    public Map<String, String> params(RunInfo run) {
        Path file = dir(run).resolve("params.json");
        if (!Files.exists(file)) {
            return Map.of();
        }
        try {
            return new TreeMap<>(JSON.readValue(file.toFile(), new TypeReference<Map<String, String>>() { }));
        } catch (IOException e) {
            throw new RunStoreException(file + ": not a {name: value} object of params: " + e.getMessage(), e);
        }
    }

    @Override
    public Map<String, SortedMap<Long, Double>> metrics(RunInfo run) {
        Path file = dir(run).resolve("metrics.jsonl");
        Map<String, SortedMap<Long, Double>> out = new TreeMap<>();
        if (!Files.exists(file)) {
            return out;
        }
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            long number = 0;
            while ((line = r.readLine()) != null) {
                number++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    continue; // the line a running (or killed) job has not finished writing
                }
                if (!n.path("key").isTextual() || !n.path("value").isNumber() || !n.path("step").isNumber()) {
                    throw new RunStoreException(file + ": line " + number + " is no metric, expected "
                            + "{\"key\", \"value\", \"step\", \"timestamp\"}");
                }
                out.computeIfAbsent(n.get("key").asText(), k -> new TreeMap<>())
                        .put(n.get("step").asLong(), n.get("value").asDouble());
            }
        } catch (IOException e) {
            throw new RunStoreException(file + ": cannot read metrics: " + e.getMessage(), e);
        }
        return out;
    }
}
