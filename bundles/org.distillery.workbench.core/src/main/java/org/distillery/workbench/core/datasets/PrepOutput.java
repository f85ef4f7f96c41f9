package org.distillery.workbench.core.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What a prep job made, from its {@code manifest.json} ({@code distillery.token-shards/1}): the
 * sources it read, the documents each filter removed, the duplicates found, and the tokens per split.
 * A manifest that cannot be read is kept with its {@code problem}, so one bad folder hides no other.
 */
public record PrepOutput(String name, Path dir, String createdAt, List<Source> sources, long documentsRead,
                         Map<String, Long> removedByFilter, long exactDuplicates, long nearDuplicates,
                         double dedupRatio, long documentsKept, Map<String, Long> tokensBySplit, int vocabSize,
                         String problem) {
    public static final String MANIFEST = "manifest.json";
    public static final String FORMAT = "distillery.token-shards";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One source of a prep: a dataset (or local files) and how many documents it gave. */
    public record Source(String name, String format, long documents) {
    }

    /** The prep outputs in {@code prepDir} (a work dir's {@code prep/}), by name. */
    public static List<PrepOutput> under(Path prepDir) {
        if (!Files.isDirectory(prepDir)) {
            return List.of();
        }
        List<PrepOutput> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(prepDir)) {
            for (Path d : dirs.filter(p -> Files.isRegularFile(p.resolve(MANIFEST))).sorted().toList()) {
                out.add(read(d));
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(prepDir + ": cannot list prep outputs: " + e.getMessage(), e);
        }
        return out;
    }

    public static PrepOutput read(Path dir) {
        Path file = dir.resolve(MANIFEST);
        String name = dir.getFileName().toString();
        JsonNode m;
        try {
            m = JSON.readTree(file.toFile());
        } catch (IOException e) {
            return broken(name, dir, file + ": not readable JSON: " + e.getMessage());
        }
        if (m == null || !FORMAT.equals(m.path("format").asText())) {
            return broken(name, dir, file + ": format is '" + (m == null ? "" : m.path("format").asText())
                    + "', expected " + FORMAT);
        }
        List<Source> sources = new ArrayList<>();
        for (JsonNode s : m.path("sources")) {
            sources.add(new Source(s.path("name").asText(), s.path("format").asText(), s.path("documents").asLong()));
        }
        JsonNode stats = m.path("stats");
        Map<String, Long> removed = new LinkedHashMap<>();
        stats.path("removed_by_filter").fields().forEachRemaining(e -> removed.put(e.getKey(), e.getValue().asLong()));
        Map<String, Long> tokens = new LinkedHashMap<>();
        m.path("splits").fields().forEachRemaining(e -> tokens.put(e.getKey(), e.getValue().path("tokens").asLong()));
        return new PrepOutput(name, dir, m.path("created_at").asText(""), List.copyOf(sources),
                stats.path("documents_read").asLong(), removed, stats.path("exact_duplicates").asLong(),
                stats.path("near_duplicates").asLong(), stats.path("dedup_ratio").asDouble(),
                stats.path("documents_kept").asLong(), tokens, m.path("tokenizer").path("vocab_size").asInt(), null);
    }

    private static PrepOutput broken(String name, Path dir, String problem) {
        return new PrepOutput(name, dir, "", List.of(), 0, Map.of(), 0, 0, 0, 0, Map.of(), 0, problem);
    }

    /** Whether this prep read the named dataset. */
    public boolean uses(String dataset) {
        return sources.stream().anyMatch(s -> s.name().equals(dataset));
    }

    public long tokens() {
        return tokensBySplit.values().stream().mapToLong(Long::longValue).sum();
    }
}
