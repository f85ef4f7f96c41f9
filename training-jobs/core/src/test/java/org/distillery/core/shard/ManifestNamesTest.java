package org.distillery.core.shard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.io.Quoted;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A manifest names the files of its folder; one from elsewhere (copied, downloaded, edited) may name any path.
 * Reading it refuses a name that is absolute or has a {@code ..} part, naming the manifest and the field,
 * before anything resolves it outside the folder.
 */
class ManifestNamesTest {
    @TempDir
    Path tmp;

    static final List<String> OUTSIDE = List.of("../secret.bin", "/etc/passwd", "sub/../../secret.bin",
            "sub/../train-00000.bin", "./train-00000.bin", "sub//x.bin", "", "C:\\secret.bin", "hdfs://other/x.bin",
            "line\nbreak.bin", "tab\t.bin", "del\u007f.bin");

    static ShardManifest prep(String tokenizer, String shard) {
        return new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION, "test", "now",
                new ShardManifest.TokenizerRef(tokenizer, "a".repeat(64), 300), "uint16", 0, "x", List.of(), null,
                Map.of("train", new ShardManifest.Split(1, 2, List.of(
                        new TokenShardWriter.Summary("train-00000.bin", "b".repeat(64), 1, 1, 34),
                        new TokenShardWriter.Summary(shard, "b".repeat(64), 1, 1, 34)))), Map.of());
    }

    static TeacherLogitsManifest logits(String shard) {
        return new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT, TeacherLogitsManifest.VERSION, "test", "now",
                "a".repeat(64), "b".repeat(64), "train", Map.of(), 4, 1.0f, 8, 300, 1,
                List.of(new TeacherLogits.Shard(shard, "c".repeat(64), 1, 100)));
    }

    private void refused(ShardFormatException e, Path manifest, String field, String name) {
        // Quoted: a control character in a crafted name is escaped, so the error stays one line.
        assertTrue(e.getMessage().startsWith(manifest + ": " + field + " is " + Quoted.of(name)), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains("a file name inside the manifest's folder"), e.getMessage());
    }

    @Test
    void aPrepManifestNamingAFileOutsideItsFolderIsRefused() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("prep"));
        for (String name : OUTSIDE) {
            prep("tokenizer.json", name).write(dir);
            ShardFormatException e = assertThrows(ShardFormatException.class, () -> ShardManifest.read(dir), name);
            refused(e, dir.resolve("manifest.json"), "splits.train.shards[1].file", name);

            prep(name, "train-00001.bin").write(dir);
            e = assertThrows(ShardFormatException.class, () -> ShardManifest.read(dir), name);
            refused(e, dir.resolve("manifest.json"), "tokenizer.file", name);
        }
        prep("tokenizer.json", "more/train-00001.bin").write(dir);
        assertEquals("more/train-00001.bin", ShardManifest.read(dir).splits().get("train").shards().get(1).file(),
                "a file in a subfolder is inside");
    }

    @Test
    void aTeacherLogitsManifestNamingAFileOutsideItsFolderIsRefused() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("logits"));
        for (String name : OUTSIDE) {
            logits(name).write(dir);
            ShardFormatException e = assertThrows(ShardFormatException.class, () -> TeacherLogitsManifest.read(dir),
                    name);
            refused(e, dir.resolve("teacher-logits.json"), "shards[0].file", name);
        }
        logits("train-00000.tlogits").write(dir);
        assertEquals("train-00000.tlogits", TeacherLogitsManifest.read(dir).shards().get(0).file());
    }
}
