package org.distillery.core.shard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.distillery.core.io.Float16;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Teacher-logit shards: what is written is read back (logits as fp16), and bad files are clear errors. */
class TeacherLogitsTest {
    @TempDir
    Path dir;

    private static TeacherLogits.Window window(SplittableRandom r, int t, int k, int vocab) {
        TeacherLogits.Window w = new TeacherLogits.Window(t, k);
        for (int i = 0; i <= t; i++) {
            w.tokens[i] = r.nextInt(vocab);
        }
        for (int i = 0; i < t * k; i++) {
            w.ids[i] = r.nextInt(vocab);
            w.logits[i] = (float) (r.nextGaussian() * 5);
        }
        for (int p = 0; p < t; p++) {
            w.rest[p] = (float) r.nextGaussian();
        }
        return w;
    }

    private TeacherLogits.Shard write(Path file, List<TeacherLogits.Window> windows, int vocab) throws IOException {
        try (TeacherLogits.Writer w = new TeacherLogits.Writer(file, 8, 4, vocab, 2.0f)) {
            for (TeacherLogits.Window x : windows) {
                w.add(x);
            }
            return w.finish();
        }
    }

    @Test
    void windowsRoundTripWithLogitsInHalfPrecision() throws IOException {
        for (int vocab : new int[] {300, 70_000}) { // 2-byte ids, then 4-byte ids
            SplittableRandom r = new SplittableRandom(vocab);
            List<TeacherLogits.Window> written = List.of(window(r, 8, 4, vocab), window(r, 8, 4, vocab),
                    window(r, 8, 4, vocab));
            Path file = dir.resolve("train-" + vocab + ".tlogits");
            TeacherLogits.Shard s = write(file, written, vocab);
            assertEquals(3, s.windows());
            assertEquals(Files.size(file), s.bytes());
            try (TeacherLogits.Reader reader = new TeacherLogits.Reader(file)) {
                assertEquals(new TeacherLogits.Header(8, 4, vocab, vocab <= 65536 ? 2 : 4, 2.0f, 3), reader.header());
                TeacherLogits.Window back = new TeacherLogits.Window(8, 4);
                for (int i = 2; i >= 0; i--) {
                    reader.read(i, back);
                    TeacherLogits.Window w = written.get(i);
                    assertArrayEquals(w.tokens, back.tokens);
                    assertArrayEquals(w.ids, back.ids);
                    assertArrayEquals(w.rest, back.rest);
                    for (int j = 0; j < w.logits.length; j++) {
                        assertEquals(Float16.toFloat(Float16.fromFloat(w.logits[j])), back.logits[j], 0f);
                    }
                }
            }
        }
    }

    @Test
    void theManifestChecksEveryShard() throws IOException {
        SplittableRandom r = new SplittableRandom(1);
        TeacherLogits.Shard s = write(dir.resolve("train-00000.tlogits"), List.of(window(r, 8, 4, 300)), 300);
        TeacherLogitsManifest m = new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT, TeacherLogitsManifest.VERSION,
                "test", "now", "a".repeat(64), "b".repeat(64), "train", Map.of("source", "t.ckpt"), 4, 2.0f, 8, 300, 1,
                List.of(s));
        m.write(dir);
        TeacherLogitsManifest back = TeacherLogitsManifest.read(dir);
        assertEquals(m, back);
        back.verify(dir);
        TeacherLogitsManifest otherK = new TeacherLogitsManifest(m.format(), m.version(), "test", "now",
                m.datasetManifestSha256(), m.tokenizerSha256(), "train", m.teacher(), 8, 2.0f, 8, 300, 1, List.of(s));
        ShardFormatException e = assertThrows(ShardFormatException.class, () -> otherK.verify(dir));
        assertTrue(e.getMessage().contains("disagrees with teacher-logits.json (k 8"), e.getMessage());
        try (FileChannel ch = FileChannel.open(dir.resolve(s.file()), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 100);
        }
        e = assertThrows(ShardFormatException.class, () -> back.verify(dir));
        assertTrue(e.getMessage().contains("train-00000.tlogits: has SHA-256"), e.getMessage());
    }

    @Test
    void badFilesAreErrorsNamingTheFile() throws IOException {
        SplittableRandom r = new SplittableRandom(2);
        Path good = dir.resolve("good.tlogits");
        write(good, List.of(window(r, 8, 4, 300), window(r, 8, 4, 300)), 300);
        byte[] bytes = Files.readAllBytes(good);

        Path truncated = dir.resolve("truncated.tlogits");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        ShardFormatException e = assertThrows(ShardFormatException.class, () -> new TeacherLogits.Reader(truncated));
        assertTrue(e.getMessage().startsWith(truncated + ": is " + (bytes.length - 10) + " bytes, but its header promises 2"
                + " windows"), e.getMessage());

        Path magic = dir.resolve("magic.tlogits");
        byte[] wrong = bytes.clone();
        wrong[0] = 'X';
        Files.write(magic, wrong);
        e = assertThrows(ShardFormatException.class, () -> new TeacherLogits.Reader(magic));
        assertTrue(e.getMessage().contains("has magic \"XSTLTLG1\", expected \"DSTLTLG1\": not a Distillery teacher-logit"
                + " shard"), e.getMessage());

        Path version = dir.resolve("version.tlogits");
        byte[] v = bytes.clone();
        ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 9);
        Files.write(version, v);
        e = assertThrows(ShardFormatException.class, () -> new TeacherLogits.Reader(version));
        assertTrue(e.getMessage().contains("has format version 9, this Distillery reads version 1"), e.getMessage());

        Path tiny = dir.resolve("tiny.tlogits");
        Files.write(tiny, new byte[10]);
        e = assertThrows(ShardFormatException.class, () -> new TeacherLogits.Reader(tiny));
        assertTrue(e.getMessage().contains("is 10 bytes, shorter than the 64-byte header"), e.getMessage());

        e = assertThrows(ShardFormatException.class, () -> TeacherLogitsManifest.read(dir.resolve("nothing")));
        assertTrue(e.getMessage().contains("is not a complete teacher-logits output"), e.getMessage());
    }

    @Test
    void anAbandonedWriterLeavesNothing() throws IOException {
        Path file = dir.resolve("abandoned.tlogits");
        try (TeacherLogits.Writer w = new TeacherLogits.Writer(file, 8, 4, 300, 1f)) {
            w.add(window(new SplittableRandom(3), 8, 4, 300));
        }
        assertFalse(Files.exists(file));
        try (var s = Files.list(dir)) {
            assertEquals(0, s.count(), "no temporary file left");
        }
    }
}
