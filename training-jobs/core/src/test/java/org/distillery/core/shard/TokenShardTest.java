package org.distillery.core.shard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenShardTest {
    @TempDir
    Path dir;

    private TokenShardWriter.Summary write(Path f, int width, int[]... docs) throws IOException {
        try (TokenShardWriter w = new TokenShardWriter(f, width)) {
            for (int[] d : docs) {
                w.addDocument(d, d.length);
            }
            return w.finish();
        }
    }

    @Test
    void roundTripsBothWidths() throws IOException {
        for (int width : new int[] {2, 4}) {
            Path f = dir.resolve("s" + width + ".bin");
            int big = width == 2 ? 65535 : 1 << 20;
            TokenShardWriter.Summary s = write(f, width, new int[] {1, 2, 3}, new int[] {big, 0});
            assertEquals(5, s.tokens());
            assertEquals(2, s.documents());
            assertEquals(32 + 5L * width, Files.size(f));
            try (TokenShardReader r = TokenShardReader.open(f, s.sha256())) {
                int[] all = new int[5];
                r.read(0, all);
                assertArrayEquals(new int[] {1, 2, 3, big, 0}, all);
                assertEquals(big, r.get(3));
            }
        }
    }

    @Test
    void anAbandonedWriterLeavesNothing() throws IOException {
        Path f = dir.resolve("abandoned.bin");
        try (TokenShardWriter w = new TokenShardWriter(f, 2)) {
            w.addDocument(new int[] {1, 2}, 2);
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count(), "no final file and no temporary file");
        }
    }

    @Test
    void rejectsWrongMagicVersionLengthAndChecksumNamingTheFile() throws IOException {
        Path f = dir.resolve("s.bin");
        TokenShardWriter.Summary s = write(f, 2, new int[] {5, 6, 7});
        byte[] good = Files.readAllBytes(f);

        Files.write(f, patch(good, 0, (byte) 'X'));
        assertMessage(f, null, "has magic \"XSTSHRD\\x00\"");
        Files.write(f, patch(good, 8, (byte) 9));
        assertMessage(f, null, "has format version 9, this Distillery reads version 1");
        Files.write(f, java.util.Arrays.copyOf(good, good.length - 1));
        assertMessage(f, null, "truncated or corrupt");
        Files.write(f, java.util.Arrays.copyOf(good, 10));
        assertMessage(f, null, "shorter than the 32-byte header");
        Files.write(f, patch(good, 33, (byte) 1));
        assertMessage(f, s.sha256(), "but the manifest records " + s.sha256());
        assertMessage(dir.resolve("missing.bin"), null, "does not exist");
    }

    private void assertMessage(Path f, String sha, String expected) {
        ShardFormatException e = assertThrows(ShardFormatException.class,
                () -> (sha == null ? TokenShardReader.open(f) : TokenShardReader.open(f, sha)).close());
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static byte[] patch(byte[] b, int at, byte v) {
        byte[] c = b.clone();
        c[at] = v;
        return c;
    }

    @Test
    void manifestVerifyNamesTheBrokenShard() throws IOException {
        TokenShardWriter.Summary s = write(dir.resolve("train-00000.bin"), 2, new int[] {1, 2});
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        ShardManifest m = new ShardManifest(ShardManifest.FORMAT, 1, "test", "now",
                new ShardManifest.TokenizerRef("tokenizer.json",
                        org.distillery.core.io.Sha256.of(dir.resolve("tokenizer.json")), 300),
                "uint16", 0, "x", java.util.List.of(), null,
                java.util.Map.of("train", new ShardManifest.Split(1, 2, java.util.List.of(s))), java.util.Map.of());
        m.write(dir);
        ShardManifest back = ShardManifest.read(dir);
        back.verify(dir);
        try (RandomAccessFile raf = new RandomAccessFile(dir.resolve("train-00000.bin").toFile(), "rw")) {
            raf.seek(33);
            raf.write(9);
        }
        ShardFormatException e = assertThrows(ShardFormatException.class, () -> back.verify(dir));
        assertTrue(e.getMessage().startsWith(dir.resolve("train-00000.bin") + ": has SHA-256"), e.getMessage());
        Files.writeString(dir.resolve("manifest.json"), Files.readString(dir.resolve("manifest.json"))
                .replace("\"version\" : 1", "\"version\" : 2"));
        e = assertThrows(ShardFormatException.class, () -> ShardManifest.read(dir));
        assertTrue(e.getMessage().contains("manifest.json: has version 2"), e.getMessage());
    }
}
