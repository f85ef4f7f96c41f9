package org.distillery.core.shard;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Quoted;
import org.distillery.core.io.Sha256;

/**
 * {@code manifest.json} of a prep output folder: which shards make up each split, their checksums,
 * and the provenance of the tokens (tokenizer hash, source hashes, filter statistics, the spec).
 * A folder is complete exactly when its manifest exists: prep writes the manifest last and renames
 * the whole folder into place.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ShardManifest(
        String format,
        int version,
        String distilleryVersion,
        String createdAt,
        TokenizerRef tokenizer,
        String dtype,
        int eotId,
        String sourceSha256,
        List<Source> sources,
        Stats stats,
        Map<String, Split> splits,
        Map<String, Object> spec) implements VersionedManifest {

    public static final String FORMAT = "distillery.token-shards";
    public static final int VERSION = 1;
    public static final String FILE_NAME = "manifest.json";

    public record TokenizerRef(String file, String sha256, int vocabSize) {
    }

    public record Source(String name, String format, String sha256, long documents) {
    }

    /** How many documents each step kept or removed; filters in the order they ran. */
    public record Stats(long documentsRead, long documentsEmpty, Map<String, Long> removedByFilter,
                        long exactDuplicates, long nearDuplicates, double dedupRatio, long documentsKept,
                        long bytesRead) {
    }

    public record Split(long documents, long tokens, List<TokenShardWriter.Summary> shards) {
    }

    public static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public long tokens(String split) {
        Split s = splits.get(split);
        return s == null ? 0 : s.tokens();
    }

    public void write(Path dir) throws IOException {
        AtomicFile.write(dir.resolve(FILE_NAME), JSON.writeValueAsBytes(this));
    }

    /**
     * Reads {@code dir/manifest.json}, checking format, version, that every field the readers follow is present
     * and that the files it names are in {@code dir}: a manifest edited by hand or written by something else is
     * an error naming the field here, not a NullPointerException wherever a reader first follows it.
     */
    public static ShardManifest read(Path dir) throws IOException {
        Path file = dir.resolve(FILE_NAME);
        ShardManifest m = VersionedManifest.read(file, ShardManifest.class, FORMAT, VERSION,
                dir + " is not a complete prep output", "a valid manifest");
        m.check(file);
        return m;
    }

    /** The structural checks of {@link #read}, also run by {@link #verify} for a manifest made in code. */
    private void check(Path file) {
        if (tokenizer == null) {
            throw new ShardFormatException(file, "tokenizer is missing, expected {file, sha256, vocab_size}");
        }
        VersionedManifest.requireInside(file, "tokenizer.file", tokenizer.file());
        requirePresent(file, "tokenizer.sha256", tokenizer.sha256());
        requirePresent(file, "splits", splits);
        for (Map.Entry<String, Split> e : splits.entrySet()) {
            // Split names are keys of the file: quoted unless plain, so that a crafted one cannot break the line.
            String field = "splits." + (e.getKey().matches("[A-Za-z0-9_-]+") ? e.getKey() : Quoted.of(e.getKey()));
            requirePresent(file, field, e.getValue());
            requirePresent(file, field + ".shards", e.getValue().shards());
            List<TokenShardWriter.Summary> shards = e.getValue().shards();
            for (int i = 0; i < shards.size(); i++) {
                String shard = field + ".shards[" + i + "]";
                requirePresent(file, shard, shards.get(i));
                VersionedManifest.requireInside(file, shard + ".file", shards.get(i).file());
                requirePresent(file, shard + ".sha256", shards.get(i).sha256());
            }
        }
    }

    private static void requirePresent(Path file, String field, Object value) {
        if (value == null) {
            throw new ShardFormatException(file, field + " is missing or null");
        }
    }

    /**
     * Checks every shard (header, length, SHA-256) and the tokenizer file against this manifest;
     * the first mismatch throws a {@link ShardFormatException} naming the file.
     */
    public void verify(Path dir) throws IOException {
        check(dir.resolve(FILE_NAME));
        Path tok = dir.resolve(tokenizer.file());
        if (!Files.exists(tok)) {
            throw new ShardFormatException(tok, "does not exist, but the manifest lists it");
        }
        String tokSha = Sha256.of(tok);
        if (!tokSha.equals(tokenizer.sha256())) {
            throw new ShardFormatException(tok, "has SHA-256 " + tokSha + " but the manifest records "
                    + tokenizer.sha256());
        }
        for (Map.Entry<String, Split> e : splits.entrySet()) {
            long total = 0;
            for (TokenShardWriter.Summary s : e.getValue().shards()) {
                try (TokenShardReader r = TokenShardReader.open(dir.resolve(s.file()), s.sha256())) {
                    if (r.tokens() != s.tokens()) {
                        throw new ShardFormatException(r.file(), "holds " + r.tokens() + " tokens, the manifest says "
                                + s.tokens());
                    }
                    total += r.tokens();
                }
            }
            if (total != e.getValue().tokens()) {
                throw new ShardFormatException(dir.resolve(FILE_NAME), "split '" + e.getKey() + "' lists "
                        + e.getValue().tokens() + " tokens but its shards hold " + total);
            }
        }
    }
}
