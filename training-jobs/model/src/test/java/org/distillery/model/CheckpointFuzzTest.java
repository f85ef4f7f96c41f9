package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Sha256;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Checkpoints as a hostile writer could make them. The SHA-256 trailer is recomputed after every change (anyone
 * can), so the changes reach the header and the sections: each read must load or fail with a
 * {@link DistilleryException} naming the file, never another exception or a huge allocation. Seeded; the seed
 * (override with -Dfuzz.seed) is in every failure message.
 */
class CheckpointFuzzTest {
    private static final long SEED = Long.getLong("fuzz.seed", 35);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private Path file;
    private byte[] original;
    /** The valid file's parts: its JSON header and its section bytes. */
    private String header;
    private byte[] data;
    private long floats;

    @BeforeEach
    void checkpoint() throws IOException {
        GptParameters p = GptParameters.initialize(GptTest.TINY, 3);
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, p.flat());
        sections.put(Checkpoint.ADAM_M, p.flat().mul(2));
        Checkpoint.Header h = Checkpoint.Header.of("test", GptTest.TINY, new Checkpoint.Tokenizer("abc", 37, "{}"))
                .withSpec(Map.of("name", "x", "nested", Map.of("list", java.util.List.of(1, 2, 3))));
        file = tmp.resolve("a.ckpt");
        new Checkpoint(h, sections).write(file);
        original = Files.readAllBytes(file);
        int len = (int) ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(12);
        header = new String(original, 20, len, StandardCharsets.UTF_8);
        data = Arrays.copyOfRange(original, 20 + len, original.length - 32);
        floats = 2 * p.flat().length();
    }

    /** The file with {@code json} as its header and {@code body} after it, and a trailer that matches. */
    private static byte[] assemble(String json, byte[] body) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(20 + h.length + body.length + 32).order(ByteOrder.LITTLE_ENDIAN);
        b.put(Checkpoint.MAGIC).putInt(Checkpoint.VERSION).putLong(h.length).put(h).put(body);
        return withTrailer(Arrays.copyOf(b.array(), b.capacity()));
    }

    /** Rewrites the last 32 bytes as the SHA-256 of everything before them, as a writer would. */
    private static byte[] withTrailer(byte[] b) {
        if (b.length >= 32) {
            byte[] sha = Sha256.newDigest().digest(Arrays.copyOf(b, b.length - 32));
            System.arraycopy(sha, 0, b, b.length - 32, 32);
        }
        return b;
    }

    private String withSections(String sectionsJson) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(header);
        root.set("sections", JSON.readTree(sectionsJson));
        return JSON.writeValueAsString(root);
    }

    /** Reads {@code bytes} as the checkpoint: a load or the reader's own error naming the file, nothing else. */
    private Checkpoint readAs(byte[] bytes, String what) throws IOException {
        Files.write(file, bytes);
        try {
            Checkpoint c = Checkpoint.read(file);
            // What every user does next: a header that loads must describe its weights.
            GptParameters.wrap(c.header().model(), c.section(Checkpoint.PARAMS));
            return c;
        } catch (DistilleryException e) {
            String m = e.getMessage();
            assertTrue(m.startsWith(file + ": ") && !m.contains("\n"),
                    "seed " + SEED + ", " + what + ": not one line naming the file: " + m);
            return null;
        } catch (Throwable t) {
            fail("seed " + SEED + ", " + what + ": " + t, t);
            return null;
        }
    }

    /** Problems found so far: every crafted case runs, and the test fails once listing all of them. */
    private final java.util.List<String> problems = new java.util.ArrayList<>();

    private void refused(String sections, byte[] body, String fragment) throws IOException {
        Files.write(file, assemble(withSections(sections), body));
        String shown = sections.length() > 200 ? sections.substring(0, 200) + "..." : sections;
        try {
            Checkpoint.read(file);
            problems.add(shown + " loaded");
        } catch (DistilleryException e) {
            if (!e.getMessage().startsWith(file + ": ") || !e.getMessage().contains(fragment)) {
                problems.add(shown + ": does not say '" + fragment + "': " + e.getMessage());
            }
        } catch (Throwable t) {
            problems.add(shown + ": " + t);
        }
    }

    @Test
    void theFixtureRoundTripsThroughAssemble() throws IOException {
        assertTrue(Arrays.equals(original, assemble(header, data)));
        Checkpoint c = readAs(original, "the valid file");
        assertEquals(GptTest.TINY, c.header().model());
    }

    /** Sizes a checksum does not vouch for: each must be checked against the file before anything is allocated. */
    @Test
    void craftedSectionSizes() throws IOException {
        long half = floats / 2;
        // Negative: the sum is still the file's, as the old check wanted; Nd4j.create(-1) then failed unnamed.
        refused("[{\"name\":\"params\",\"floats\":-1},{\"name\":\"adam.m\",\"floats\":" + (floats + 1) + "}]", data,
                "section 'params' declares -1 floats; expected 0 or more");
        // Beyond the file, yet 4 × floats wraps around to the file's length: a 2^62-float allocation.
        refused("[{\"name\":\"params\",\"floats\":" + ((1L << 62) + floats) + "}]", data,
                "section 'params' declares " + ((1L << 62) + floats) + " floats of 4 bytes, but the file has "
                        + 4 * floats + " bytes left");
        // Over 2 GiB, paid for by a negative one: the old reader allocated 2 GiB before failing.
        refused("[{\"name\":\"params\",\"floats\":" + ((1L << 29) + 1) + "},{\"name\":\"adam.m\",\"floats\":"
                + (floats - (1L << 29) - 1) + "}]", data, "section 'params' declares 536870913 floats");
        // Sizes whose sum overflows a long to the file's length.
        long q = 1L << 61;
        refused("[{\"name\":\"a\",\"floats\":" + q + "},{\"name\":\"b\",\"floats\":" + q + "},{\"name\":\"c\","
                + "\"floats\":" + q + "},{\"name\":\"d\",\"floats\":" + (q + floats) + "}]", data,
                "section 'a' declares " + q + " floats");
        refused("[{\"name\":\"params\",\"floats\":" + half + "},{\"name\":\"params\",\"floats\":" + half + "}]", data,
                "lists section 'params' twice");
        refused("[null,{\"name\":\"params\",\"floats\":" + floats + "}]", data, "a section without a name");
        refused("[{\"floats\":" + floats + "}]", data, "a section without a name");
        refused("[{\"name\":\"params\",\"floats\":" + (half - 1) + "}]", data, "trailing bytes");
        refused("[{\"name\":\"params\",\"floats\":" + half + "},{\"name\":\"adam.m\",\"floats\":" + (half + 1) + "}]",
                data, "section 'adam.m' declares " + (half + 1) + " floats of 4 bytes, but the file has "
                        + 4 * half + " bytes left for it after its header: truncated");
        refused("[{\"name\":\"params\",\"floats\":1e30}]", data, "unreadable header");
        refused("[{\"name\":\"x\\ny\",\"floats\":" + (1L << 40) + "}]", data, "section 'x\\u000ay' declares");
        StringBuilder many = new StringBuilder("[");
        for (int i = 0; i < 5000; i++) {
            many.append(i == 0 ? "" : ",").append("{\"name\":\"s").append(i).append("\",\"floats\":0}");
        }
        refused(many.append("]").toString(), new byte[0], "lists 5000 sections; expected at most 1024");
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /** The header with {@code edit} applied to its model object (a JSON object to merge in; null values remove). */
    private String withModel(String edit) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(header);
        ObjectNode model = (ObjectNode) root.get("model");
        JSON.readTree(edit).fields().forEachRemaining(e -> {
            if (e.getValue().isNull()) {
                model.remove(e.getKey());
            } else {
                model.set(e.getKey(), e.getValue());
            }
        });
        return JSON.writeValueAsString(root);
    }

    private void refusedModel(String edit, String fragment) throws IOException {
        Files.write(file, assemble(withModel(edit), data));
        try {
            Checkpoint c = Checkpoint.read(file);
            GptParameters.wrap(c.header().model(), c.section(Checkpoint.PARAMS));
            problems.add(edit + " loaded");
        } catch (DistilleryException e) {
            if (!e.getMessage().startsWith(file + ": ") || !e.getMessage().contains(fragment)
                    || e.getMessage().contains("\n")) {
                problems.add(edit + ": does not say '" + fragment + "': " + e.getMessage());
            }
        } catch (Throwable t) {
            problems.add(edit + ": " + t);
        }
    }

    /**
     * A model shape the sections do not hold, or no model at all: each is refused when read, naming the field,
     * before a user wraps the params in it (unnamed IllegalArgumentException) or divides by its n_head.
     */
    @Test
    void craftedModelShapes() throws IOException {
        long params = floats / 2;
        refusedModel("{\"n_head\":0}", "header's model.n_head must be between 1 and 256, found 0");
        refusedModel("{\"n_head\":3}", "header's model.n_embd must be divisible by model.n_head (3), found 16");
        refusedModel("{\"n_layer\":3}", "section 'params' holds " + params + " floats, but the header's model (gpt2,"
                + " n_layer 3, n_embd 16, vocab_size 37) has " + new GptConfig(3, 2, 16, 8, 37, 0.0).parameterCount()
                + " parameters");
        refusedModel("{\"n_layer\":-1}", "header's model.n_layer must be between 1 and 256, found -1");
        refusedModel("{\"vocab_size\":0}", "header's model.vocab_size must be between 1 and 2147483647, found 0");
        refusedModel("{\"vocab_size\":36}", "section 'params' holds " + params + " floats");
        // c × c × n_layer and the like overflowed a long in parameterCount: the ranges come first.
        refusedModel("{\"n_embd\":2147483647,\"n_head\":1}", "header's model.n_embd must be between 1 and 65536");
        refusedModel("{\"block_size\":0}", "header's model.block_size must be between 1");
        refusedModel("{\"dropout\":1.5}", "header's model.dropout must be in [0, 1)");
        refusedModel("{\"llama\":{\"n_kv_head\":3,\"intermediate_size\":40,\"rope_theta\":10000,"
                + "\"rms_norm_eps\":1e-5}}", "n_head 2 is no multiple of n_kv_head 3");
        refusedModel("{\"llama\":{\"n_kv_head\":0,\"intermediate_size\":40,\"rope_theta\":10000,"
                + "\"rms_norm_eps\":1e-5}}", "header's model.llama.n_kv_head must be between 1 and 256, found 0");
        refusedModel("{\"llama\":{\"n_kv_head\":2,\"intermediate_size\":0,\"rope_theta\":10000,"
                + "\"rms_norm_eps\":1e-5}}", "header's model.llama.intermediate_size must be between 1");
        refusedModel("{\"n_head\":16,\"llama\":{\"n_kv_head\":16,\"intermediate_size\":40,\"rope_theta\":"
                + "10000,\"rms_norm_eps\":1e-5}}", "gives a head size of 1");
        refusedModel("{\"llama\":{\"n_kv_head\":2,\"intermediate_size\":40,\"rope_theta\":10000,"
                + "\"rms_norm_eps\":1e-5}}", "section 'params' holds " + params + " floats, but the header's model"
                + " (llama,");
        // Every writer embeds the tokenizer: training compares its sha256, generation decodes with its json.
        for (String tokenizer : new String[] {"null", "{\"vocab_size\":37,\"json\":\"{}\"}",
            "{\"sha256\":\"abc\",\"vocab_size\":37}"}) {
            ObjectNode root = (ObjectNode) JSON.readTree(header);
            root.set("tokenizer", JSON.readTree(tokenizer));
            Files.write(file, assemble(JSON.writeValueAsString(root), data));
            try {
                Checkpoint.read(file);
                problems.add("tokenizer " + tokenizer + " loaded");
            } catch (DistilleryException e) {
                if (!e.getMessage().equals(file + ": has a header without tokenizer.sha256 and tokenizer.json")) {
                    problems.add("tokenizer " + tokenizer + ": " + e.getMessage());
                }
            }
        }
        // Optimizer moments are the model's shape too: AdamW would index past a shorter one.
        refused("[{\"name\":\"params\",\"floats\":" + params + "},{\"name\":\"adam.m\",\"floats\":"
                + (params - 1) + "},{\"name\":\"x\",\"floats\":1}]", data, "section 'adam.m' holds "
                + (params - 1) + " floats");
        refused("[{\"name\":\"weights\",\"floats\":" + params + "},{\"name\":\"adam.m\",\"floats\":"
                + params + "}]", data, "has no section 'params'");
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void anEmptySectionLoads() throws IOException {
        long half = floats / 2;
        Checkpoint c = readAs(assemble(withSections("[{\"name\":\"params\",\"floats\":" + half + "},{\"name\":\"none\","
                + "\"floats\":0},{\"name\":\"adam.m\",\"floats\":" + half + "}]"), data), "an empty section");
        assertEquals(0, c.section("none").length());
        assertEquals(half, c.section(Checkpoint.ADAM_M).length());
    }

    /** Sections are copied through windows so that none needs a view over 2 GiB; a small window checks the seams. */
    @Test
    void windowedCopiesAreExact() throws IOException {
        float[] values = new float[1000];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.5f - 17;
        }
        ByteBuffer b = ByteBuffer.allocate(8 + 4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0x1234);
        for (float v : values) {
            b.putFloat(v);
        }
        Path raw = tmp.resolve("raw");
        Files.write(raw, b.array());
        for (int window : new int[] {4, 12, 100, 4000, 1 << 20}) {
            INDArray a = Nd4j.create(DataType.FLOAT, values.length);
            try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.READ)) {
                Checkpoint.readFloats(raw, ch, 8, a, "s", window);
            }
            assertArrayEquals(values, a.toFloatVector(), "window " + window);
        }
    }

    private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][-+]?\\d+)?");
    private static final long[] INTERESTING = {-1, 0, 1, Integer.MAX_VALUE, Integer.MAX_VALUE + 1L, 1L << 31,
        (1L << 32) + 1, 1L << 61, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE, -(1L << 62)};

    /** Random changes of a valid file, its trailer then made to match. */
    @Test
    void mutationsWithAMatchingTrailer() throws IOException {
        SplittableRandom r = new SplittableRandom(SEED);
        int loaded = 0;
        for (int round = 0; round < 400; round++) {
            int kind = r.nextInt(6);
            byte[] b;
            if (kind == 0) { // numbers in the JSON header: section sizes, model shape, steps
                Matcher m = NUMBER.matcher(header);
                java.util.List<int[]> spans = new java.util.ArrayList<>();
                while (m.find()) {
                    spans.add(new int[] {m.start(), m.end()});
                }
                int[] s = spans.get(r.nextInt(spans.size()));
                long v = r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : r.nextLong(-1000, floats * 2);
                b = assemble(header.substring(0, s[0]) + v + header.substring(s[1]), data);
            } else if (kind == 1) { // bytes of the prefix and header
                b = original.clone();
                for (int k = 0; k < 1 + r.nextInt(6); k++) {
                    b[r.nextInt(Math.min(b.length - 32, 20 + header.length()))] = (byte) r.nextInt(256);
                }
                b = withTrailer(b);
            } else if (kind == 2) { // a long anywhere before the data, the header length among them
                b = original.clone();
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(r.nextInt(20 + header.length() - 8),
                        r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : r.nextLong());
                b = withTrailer(b);
            } else if (kind == 3) { // cut or grown, ending in a trailer of what is left
                b = withTrailer(Arrays.copyOf(original, r.nextInt(original.length + 64)));
            } else if (kind == 4) { // floats moved between the sections: the sum still matches the file
                ObjectNode root = (ObjectNode) JSON.readTree(header);
                ArrayNode sections = (ArrayNode) root.get("sections");
                long d = r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : r.nextLong(-floats, floats);
                ObjectNode from = (ObjectNode) sections.get(0);
                ObjectNode to = (ObjectNode) sections.get(1);
                from.put("floats", from.get("floats").asLong() - d);
                to.put("floats", to.get("floats").asLong() + d);
                b = assemble(JSON.writeValueAsString(root), data);
            } else { // a section's data changed: still a checkpoint, and it must load
                b = original.clone();
                b[20 + header.length() + r.nextInt(data.length)] ^= (byte) (1 + r.nextInt(255));
                b = withTrailer(b);
                assertTrue(readAs(b, "round " + round + " (data)") != null, "seed " + SEED + ", round " + round
                        + ": a checkpoint with other float values did not load");
            }
            if (readAs(b, "round " + round + " (mutation " + kind + ")") != null) {
                loaded++;
            }
        }
        assertTrue(loaded > 0, "seed " + SEED + ": no mutation loaded");
    }
}
