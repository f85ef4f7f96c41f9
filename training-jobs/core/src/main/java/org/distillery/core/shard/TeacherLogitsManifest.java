package org.distillery.core.shard;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Sha256;

/**
 * The manifest of a teacher-logits folder ({@code teacher-logits.json}), written last: which data
 * (the prep manifest's and the tokenizer's SHA-256), which teacher, the top k, the temperature the
 * rest's log-sum-exp was taken at, the window, and every shard with its SHA-256.
 */
public record TeacherLogitsManifest(
        String format,
        int version,
        String distilleryVersion,
        String createdAt,
        String datasetManifestSha256,
        String tokenizerSha256,
        String split,
        Map<String, Object> teacher,
        int topK,
        float temperature,
        int window,
        int vocabSize,
        long windows,
        List<TeacherLogits.Shard> shards) implements VersionedManifest {

    public static final String FORMAT = "distillery.teacher-logits";
    public static final int VERSION = 1;
    public static final String FILE_NAME = "teacher-logits.json";

    public void write(Path dir) throws IOException {
        AtomicFile.write(dir.resolve(FILE_NAME), ShardManifest.JSON.writeValueAsBytes(this));
    }

    /** Reads {@code dir/teacher-logits.json}, checking format, version and that its shards are inside {@code dir}. */
    public static TeacherLogitsManifest read(Path dir) throws IOException {
        Path file = dir.resolve(FILE_NAME);
        TeacherLogitsManifest m = VersionedManifest.read(file, TeacherLogitsManifest.class, FORMAT, VERSION,
                dir + " is not a complete teacher-logits output", "a valid teacher-logits manifest");
        List<TeacherLogits.Shard> shards = m.shards() == null ? List.of() : m.shards();
        for (int i = 0; i < shards.size(); i++) {
            if (shards.get(i) == null) {
                throw new ShardFormatException(file, "lists a shard without its file: shards[" + i + "] is null");
            }
            VersionedManifest.requireInside(file, "shards[" + i + "].file", shards.get(i).file());
        }
        return m;
    }

    /** Checks every shard's SHA-256 and header against this manifest; the first mismatch names the file. */
    public void verify(Path dir) throws IOException {
        Path self = dir.resolve(FILE_NAME);
        if (shards == null) {
            throw new ShardFormatException(self, "lists no shards");
        }
        long listed = 0;
        for (TeacherLogits.Shard s : shards) {
            if (s == null || s.file() == null || s.sha256() == null) {
                throw new ShardFormatException(self, "lists a shard without its file or sha256");
            }
            if (s.windows() < 0 || s.windows() > Long.MAX_VALUE - listed) {
                throw new ShardFormatException(self, "lists shard " + s.file() + " with " + s.windows() + " windows");
            }
            listed += s.windows();
        }
        // Readers draw window indexes below windows: more than the shards hold would read past the last one.
        if (listed != windows) {
            throw new ShardFormatException(self, "says " + windows + " windows but its shards list " + listed);
        }
        for (TeacherLogits.Shard s : shards) {
            Path f = dir.resolve(s.file());
            String sha = Sha256.of(f);
            if (!sha.equals(s.sha256())) {
                throw new ShardFormatException(f, "has SHA-256 " + sha + " but " + FILE_NAME + " records " + s.sha256());
            }
            try (TeacherLogits.Reader r = new TeacherLogits.Reader(f)) {
                TeacherLogits.Header h = r.header();
                if (h.k() != topK || h.window() != window || h.vocab() != vocabSize || h.temperature() != temperature
                        || h.windows() != s.windows()) {
                    throw new ShardFormatException(f, "has header " + h + ", which disagrees with " + FILE_NAME
                            + " (k " + topK + ", window " + window + ", vocab " + vocabSize + ", temperature "
                            + temperature + ", " + s.windows() + " windows)");
                }
            }
        }
    }
}
