package org.distillery.core.shard;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Sha256;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token and teacher-logit shards as a hostile or broken writer could make them: each open and read either
 * succeeds or throws the reader's {@link ShardFormatException} (a {@link DistilleryException}) naming the file,
 * never another exception or a huge allocation. The SHA-256 a manifest would record is recomputed for each
 * mutation, so the changes reach the header checks. Seeded (-Dfuzz.seed); the seed is in every failure.
 */
class ShardReaderFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 35);
    private static final long[] INTERESTING = {-1, 0, 1, 2, 4, Integer.MAX_VALUE, 1L << 31, (1L << 32) + 1,
        1L << 61, 1L << 62, (1L << 62) + 3, Long.MAX_VALUE, Long.MIN_VALUE};

    @TempDir
    Path dir;
    private byte[] tokenShard;
    private byte[] logitShard;

    @BeforeEach
    void shards() throws IOException {
        Path t = dir.resolve("valid.tokens");
        try (TokenShardWriter w = new TokenShardWriter(t, 4)) {
            w.addDocument(new int[] {5, 6, 7, 0}, 4);
            w.addDocument(new int[] {9, 9, 0}, 3);
            w.finish();
        }
        tokenShard = Files.readAllBytes(t);
        Path l = dir.resolve("valid.tlogits");
        SplittableRandom r = new SplittableRandom(1);
        try (TeacherLogits.Writer w = new TeacherLogits.Writer(l, 4, 2, 300, 1f)) {
            for (int n = 0; n < 3; n++) {
                TeacherLogits.Window x = new TeacherLogits.Window(4, 2);
                Arrays.setAll(x.tokens, i -> r.nextInt(300));
                Arrays.setAll(x.ids, i -> r.nextInt(300));
                w.add(x);
            }
            w.finish();
        }
        logitShard = Files.readAllBytes(l);
    }

    /** Every crafted case runs; the test then fails once, listing what each did instead of its error. */
    private final List<String> problems = new ArrayList<>();

    private interface Read {
        void from(Path file) throws IOException;
    }

    private void refused(Path f, byte[] bytes, String fragment, Read read) throws IOException {
        Files.write(f, bytes);
        try {
            read.from(f);
            problems.add("'" + fragment + "': the file was read");
        } catch (DistilleryException e) {
            if (!e.getMessage().startsWith(f + ": ") || !e.getMessage().contains(fragment)) {
                problems.add("'" + fragment + "': said instead: " + e.getMessage());
            }
        } catch (Throwable t) {
            problems.add("'" + fragment + "': " + t);
        }
    }

    /** Opens with the SHA-256 a manifest would record, then reads every token, as training does. */
    private static void readTokens(Path f) throws IOException {
        try (TokenShardReader r = TokenShardReader.open(f, Sha256.of(f))) {
            for (long i = 0; i < r.tokens(); i++) {
                r.get(i);
            }
            if (r.tokens() > 0) {
                r.read(0, new int[(int) Math.min(r.tokens(), 1 << 20)]);
            }
        }
    }

    /** Opens and reads every window into arrays of the header's shape, as distillation does. */
    private static void readLogits(Path f) throws IOException {
        try (TeacherLogits.Reader r = new TeacherLogits.Reader(f)) {
            TeacherLogits.Window w = new TeacherLogits.Window(r.header().window(), r.header().k());
            for (long i = 0; i < r.header().windows(); i++) {
                r.read(i, w);
            }
        }
    }

    private static byte[] with(byte[] b, int at, long value, boolean asInt) {
        byte[] c = b.clone();
        ByteBuffer buf = ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN);
        if (asInt) {
            buf.putInt(at, (int) value);
        } else {
            buf.putLong(at, value);
        }
        return c;
    }

    @Test
    void craftedTokenShards() throws IOException {
        Path f = dir.resolve("crafted.tokens");
        long tokens = (tokenShard.length - 32) / 4;
        // 2^62 + n tokens of 4 bytes wraps to the file's length: the old reader opened it, then read past its map.
        refused(f, with(tokenShard, 16, (1L << 62) + tokens, false), "header says " + ((1L << 62) + tokens) + " tokens",
                ShardReaderFuzzTest::readTokens);
        refused(f, with(tokenShard, 16, -1, false), "header says -1 tokens", ShardReaderFuzzTest::readTokens);
        refused(f, with(tokenShard, 24, -2, false), "document count -2", ShardReaderFuzzTest::readTokens);
        refused(f, with(tokenShard, 12, 3, true), "token width 3", ShardReaderFuzzTest::readTokens);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void craftedTeacherLogitShards() throws IOException {
        Path f = dir.resolve("crafted.tlogits");
        // window is at 12, k at 16, vocab at 20, id bytes at 24, windows at 32.
        byte[] none = with(Arrays.copyOf(logitShard, 64), 32, 0, false);
        // No windows, so the length matched, but a record of ~12 GB: (int) cast, then allocate.
        refused(f, with(with(none, 12, 1 << 30, true), 20, 1 << 30, true), "bytes each; expected at most",
                ShardReaderFuzzTest::readLogits);
        // window + 1 overflowed an int: a negative record size.
        refused(f, with(with(none, 12, Integer.MAX_VALUE, true), 20, 1 << 30, true), "bytes each; expected at most",
                ShardReaderFuzzTest::readLogits);
        // windows × record wrapped around to the file's length: 2^62 × 68 is 17 × 2^64.
        refused(f, with(logitShard, 32, 3 + (1L << 62), false), "header promises",
                ShardReaderFuzzTest::readLogits);
        refused(f, with(logitShard, 32, -1, false), "bad header", ShardReaderFuzzTest::readLogits);
        refused(f, with(logitShard, 16, 301, true), "bad header", ShardReaderFuzzTest::readLogits);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    private TeacherLogitsManifest manifest(long windows, List<TeacherLogits.Shard> shards) {
        return new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT, TeacherLogitsManifest.VERSION, "test", "now",
                "a", "b", "train", java.util.Map.of(), 2, 1f, 4, 300, windows, shards);
    }

    /** A manifest's windows are what readers draw indexes below: more than its shards hold read past the last. */
    @Test
    void craftedTeacherLogitsManifests() throws IOException {
        Path f = dir.resolve(TeacherLogitsManifest.FILE_NAME);
        String sha = Sha256.of(logitShard);
        TeacherLogits.Shard shard = new TeacherLogits.Shard("valid.tlogits", sha, 3, logitShard.length);
        Read verify = p -> TeacherLogitsManifest.read(dir).verify(dir);
        manifest(3, List.of(shard)).write(dir);
        verify.from(f);
        refused(f, ShardManifest.JSON.writeValueAsBytes(manifest(5, List.of(shard))),
                "says 5 windows but its shards list 3", verify);
        refused(f, ShardManifest.JSON.writeValueAsBytes(manifest(3, null)), "lists no shards", verify);
        refused(f, ShardManifest.JSON.writeValueAsBytes(manifest(3, java.util.Arrays.asList(shard, null))),
                "lists a shard without its file", verify);
        refused(f, ShardManifest.JSON.writeValueAsBytes(manifest(3, List.of(new TeacherLogits.Shard(null, sha, 3, 1)))),
                "shards[0].file is missing", verify);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /**
     * A prep manifest with a field its readers follow removed or nulled: each is refused naming the manifest and
     * the field (these were NullPointerExceptions in read or verify).
     */
    @Test
    void craftedPrepManifests() throws IOException {
        Path f = dir.resolve(ShardManifest.FILE_NAME);
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        TokenShardWriter.Summary shard = new TokenShardWriter.Summary("valid.tokens", Sha256.of(tokenShard),
                (tokenShard.length - 32) / 4, 2, tokenShard.length);
        ShardManifest valid = new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION, "test", "now",
                new ShardManifest.TokenizerRef("tokenizer.json", Sha256.of(dir.resolve("tokenizer.json")), 300),
                "uint16", 0, "x", List.of(), null, java.util.Map.of("train", new ShardManifest.Split(2, shard.tokens(),
                        List.of(shard))), java.util.Map.of());
        Read verify = p -> ShardManifest.read(dir).verify(dir);
        valid.write(dir);
        verify.from(f);
        com.fasterxml.jackson.databind.ObjectMapper json = ShardManifest.JSON;
        String[][] cases = {
            {"/tokenizer", "tokenizer is missing"},
            {"/tokenizer/file", "tokenizer.file is missing"},
            {"/tokenizer/sha256", "tokenizer.sha256 is missing"},
            {"/splits", "splits is missing"},
            {"/splits/train", "splits.train is missing or null"},
            {"/splits/train/shards", "splits.train.shards is missing"},
            {"/splits/train/shards/0", "splits.train.shards[0] is missing or null"},
            {"/splits/train/shards/0/file", "splits.train.shards[0].file is missing"},
            {"/splits/train/shards/0/sha256", "splits.train.shards[0].sha256 is missing"},
        };
        for (String[] c : cases) {
            // A split removed is a manifest without that split, which is no error here; a null one is.
            for (boolean asNull : c[0].equals("/splits/train") ? new boolean[] {true} : new boolean[] {false, true}) {
                com.fasterxml.jackson.databind.node.ObjectNode root = json.valueToTree(valid);
                String at = c[0].substring(0, c[0].lastIndexOf('/'));
                String key = c[0].substring(c[0].lastIndexOf('/') + 1);
                com.fasterxml.jackson.databind.JsonNode parent = at.isEmpty() ? root : root.at(at);
                if (parent.isArray()) {
                    ((com.fasterxml.jackson.databind.node.ArrayNode) parent).set(Integer.parseInt(key),
                            com.fasterxml.jackson.databind.node.NullNode.getInstance());
                } else if (asNull) {
                    ((com.fasterxml.jackson.databind.node.ObjectNode) parent).putNull(key);
                } else {
                    ((com.fasterxml.jackson.databind.node.ObjectNode) parent).remove(key);
                }
                refused(f, json.writeValueAsBytes(root), c[1], verify);
            }
        }
        // A split's name is a key of the file: a crafted one must not break the error's line.
        com.fasterxml.jackson.databind.node.ObjectNode root = json.valueToTree(valid);
        ((com.fasterxml.jackson.databind.node.ObjectNode) root.get("splits")).putNull("a\nb");
        refused(f, json.writeValueAsBytes(root), "splits.'a\\u000ab' is missing or null", verify);
        // verify on a manifest made in code, not read: the same named error.
        try {
            new ShardManifest(valid.format(), valid.version(), "test", "now", valid.tokenizer(), "uint16", 0, "x",
                    List.of(), null, null, null).verify(dir);
            problems.add("a manifest without splits verified");
        } catch (ShardFormatException e) {
            if (!e.getMessage().equals(f + ": splits is missing or null")) {
                problems.add("verify without splits said: " + e.getMessage());
            }
        } catch (RuntimeException e) {
            problems.add("verify without splits: " + e);
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void mutatedShards() throws IOException {
        SplittableRandom r = new SplittableRandom(SEED);
        Path[] files = {dir.resolve("m.tokens"), dir.resolve("m.tlogits")};
        byte[][] originals = {tokenShard, logitShard};
        for (int round = 0; round < 1000; round++) {
            int which = round % 2;
            byte[] b = originals[which];
            int header = which == 0 ? TokenShard.HEADER_BYTES : TeacherLogits.HEADER_BYTES;
            int kind = r.nextInt(4);
            long value = r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : r.nextLong();
            if (kind == 0) { // a header field, int or long, at its own offset
                b = r.nextBoolean() ? with(b, 8 + 4 * r.nextInt((header - 12) / 4 + 1), value, true)
                        : with(b, 8 + 4 * r.nextInt((header - 16) / 4 + 1), value, false);
            } else if (kind == 1) { // bytes anywhere
                b = b.clone();
                for (int k = 0; k < 1 + r.nextInt(4); k++) {
                    b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                }
            } else if (kind == 2) { // cut or grown
                b = Arrays.copyOf(b, r.nextInt(b.length + 40));
            } else { // a long anywhere in the header
                b = with(b, r.nextInt(header - 7), value, false);
            }
            Files.write(files[which], b);
            try {
                if (which == 0) {
                    readTokens(files[which]);
                } else {
                    readLogits(files[which]);
                }
            } catch (DistilleryException e) {
                assertTrue(e.getMessage().startsWith(files[which] + ": ") && !e.getMessage().contains("\n"),
                        "seed " + SEED + ", round " + round + ": not one line naming the file: " + e.getMessage());
            } catch (Throwable t) {
                fail("seed " + SEED + ", round " + round + " (mutation " + kind + "): " + t, t);
            }
        }
    }
}
