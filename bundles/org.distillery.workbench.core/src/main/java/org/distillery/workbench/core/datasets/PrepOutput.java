package org.distillery.workbench.core.datasets;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.shard.ShardManifest;

/**
 * What a prep job made, read from its {@code manifest.json} by the engine's own {@link ShardManifest}: the
 * sources it read, the documents each filter removed, the duplicates found, and the tokens per split. A
 * manifest that cannot be read is kept with its {@code problem} (and no manifest), so one bad folder
 * hides no other.
 */
public record PrepOutput(String name, Path dir, ShardManifest manifest, String problem) {
    public static final String MANIFEST = ShardManifest.FILE_NAME;

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
        String name = dir.getFileName().toString();
        try {
            return new PrepOutput(name, dir, ShardManifest.read(dir), null);
        } catch (IOException | DistilleryException e) {
            return new PrepOutput(name, dir, null, e.getMessage());
        }
    }

    public List<ShardManifest.Source> sources() {
        return manifest == null ? List.of() : manifest.sources();
    }

    public List<String> sourceNames() {
        return sources().stream().map(ShardManifest.Source::name).toList();
    }

    /** Whether this prep read the named dataset. */
    public boolean uses(String dataset) {
        return sources().stream().anyMatch(s -> s.name().equals(dataset));
    }

    public String createdAt() {
        return manifest == null ? "" : manifest.createdAt();
    }

    public long documentsRead() {
        return manifest == null ? 0 : manifest.stats().documentsRead();
    }

    /** Documents each filter removed, in the order the filters ran. */
    public Map<String, Long> removedByFilter() {
        return manifest == null ? Map.of() : manifest.stats().removedByFilter();
    }

    public long exactDuplicates() {
        return manifest == null ? 0 : manifest.stats().exactDuplicates();
    }

    public long nearDuplicates() {
        return manifest == null ? 0 : manifest.stats().nearDuplicates();
    }

    public double dedupRatio() {
        return manifest == null ? 0 : manifest.stats().dedupRatio();
    }

    public long documentsKept() {
        return manifest == null ? 0 : manifest.stats().documentsKept();
    }

    public Map<String, Long> tokensBySplit() {
        Map<String, Long> out = new LinkedHashMap<>();
        if (manifest != null) {
            manifest.splits().forEach((split, s) -> out.put(split, s.tokens()));
        }
        return out;
    }

    public long tokens() {
        return tokensBySplit().values().stream().mapToLong(Long::longValue).sum();
    }

    public int vocabSize() {
        return manifest == null ? 0 : manifest.tokenizer().vocabSize();
    }
}
