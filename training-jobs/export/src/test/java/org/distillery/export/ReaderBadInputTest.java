package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.distillery.core.DistilleryException;
import org.distillery.model.Checkpoint;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each bad input is a clear error naming the file; none crashes the JVM or allocates without bound. */
class ReaderBadInputTest {
    @TempDir
    Path tmp;
    private Path hf;
    private Path gguf;

    @BeforeEach
    void exports() throws IOException {
        Checkpoint ck = TinyModels.trained(5);
        ExportProvenance p = ExportProvenance.of(ck.header(), "model.ckpt", "test");
        hf = tmp.resolve("hf");
        HfExporter.export(ck, hf, TensorType.F32, p, false);
        gguf = tmp.resolve("gguf");
        GgufExporter.export(ck, gguf, TensorType.F16, p, false);
    }

    private static void assertNames(Path file, String fragment, Runnable r) {
        DistilleryException e = assertThrows(DistilleryException.class, r::run);
        assertTrue(e.getMessage().contains(file.toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "says '" + fragment + "': " + e.getMessage());
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path f = hf.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 100));
        assertNames(f, "truncated", () -> SafetensorsFile.open(f));
        assertNames(f, "truncated", () -> HfImporter.read(hf, "test"));
        Files.write(f, java.util.Arrays.copyOf(all, 5));
        assertNames(f, "shorter than the 8-byte header length", () -> SafetensorsFile.open(f));
    }

    @Test
    void headerLengthLargerThanTheFileOrAbsurd() throws IOException {
        Path f = hf.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(f);
        for (long n : new long[] {all.length, Long.MAX_VALUE, -5, 1L << 40}) {
            ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
            Files.write(f, all);
            assertNames(f, "header of", () -> SafetensorsFile.open(f));
        }
    }

    @Test
    void dtypeOrShapeThatDisagreesWithConfig() throws IOException {
        Path f = hf.resolve("model.safetensors");
        String header = headerOf(f);
        rewriteHeader(f, header.replaceFirst("\"dtype\":\"F32\"", "\"dtype\":\"I64\""));
        assertNames(f, "dtype I64", () -> HfImporter.read(hf, "test"));
        rewriteHeader(f, header.replaceFirst("\"dtype\":\"F32\"", "\"dtype\":\"F16\""));
        assertNames(f, "data_offsets span", () -> HfImporter.read(hf, "test"));
        rewriteHeader(f, header);
        Path config = hf.resolve("config.json");
        String json = Files.readString(config);
        Files.writeString(config, json.replaceFirst("\"n_embd\" : 32", "\"n_embd\" : 64"));
        assertNames(f, "config.json implies", () -> HfImporter.read(hf, "test"));
        Files.writeString(config, json.replace("\"gelu_new\"", "\"relu\""));
        assertNames(config, "activation_function", () -> HfImporter.read(hf, "test"));
        Files.writeString(config, json.replace("\"model_type\" : \"gpt2\"", "\"model_type\" : \"llama\""));
        assertNames(config, "model_type", () -> HfImporter.read(hf, "test"));
    }

    @Test
    void missingTokenizerFilesOrWeights() throws IOException {
        Files.delete(hf.resolve("tokenizer.json"));
        Files.delete(hf.resolve("merges.txt"));
        assertNames(hf, "no tokenizer", () -> HfImporter.read(hf, "test"));
        Files.delete(hf.resolve("model.safetensors"));
        Files.writeString(hf.resolve("merges.txt"), "#version: 0.2\n");
        assertNames(hf, "no model.safetensors", () -> HfImporter.read(hf, "test"));
    }

    @Test
    void ggufWithAWrongMagicOrVersion() throws IOException {
        Path f = gguf.resolve(GgufExporter.FILE);
        byte[] all = Files.readAllBytes(f);
        byte[] wrong = all.clone();
        wrong[0] = 'X';
        Files.write(f, wrong);
        assertNames(f, "not the GGUF magic", () -> GgufFile.open(f));
        wrong = all.clone();
        ByteBuffer.wrap(wrong).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 7);
        Files.write(f, wrong);
        assertNames(f, "version 7", () -> GgufFile.open(f));
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 64));
        assertNames(f, "truncated", () -> GgufFile.open(f));
        wrong = all.clone();
        ByteBuffer.wrap(wrong).order(ByteOrder.LITTLE_ENDIAN).putLong(16, Long.MAX_VALUE / 2); // metadata count
        Files.write(f, wrong);
        assertNames(f, "metadata count", () -> GgufFile.open(f));
    }

    private static final long SEED = Long.getLong("fuzz.seed", 11);
    private static final long[] INTERESTING = {-1, 0, 1, 31, 32, Integer.MAX_VALUE, 1L << 31, (1L << 32) + 1,
        1L << 40, 1L << 61, 1L << 62, Long.MAX_VALUE - 7, Long.MAX_VALUE, Long.MIN_VALUE};
    private static final java.util.regex.Pattern NUMBER = java.util.regex.Pattern.compile("\\d+");

    /**
     * Seeded random changes of valid files (byte flips, truncations, longs written over length fields, numbers
     * in a safetensors header replaced, with its length kept right; a checkpoint's SHA-256 trailer recomputed,
     * as anyone can, so the changes reach its header and sections): every reader either succeeds or throws a
     * DistilleryException whose one line names the file, never anything else.
     */
    @Test
    void fuzzOfTheReaders() throws IOException {
        Path st = hf.resolve("model.safetensors");
        Path gg = gguf.resolve(GgufExporter.FILE);
        Path ck = tmp.resolve("model.ckpt");
        TinyModels.trained(6).write(ck);
        byte[][] originals = {Files.readAllBytes(st), Files.readAllBytes(gg), Files.readAllBytes(ck)};
        Path[] files = {st, gg, ck};
        String stHeader = headerOf(st);
        SplittableRandom r = new SplittableRandom(SEED);
        for (int round = 0; round < 600; round++) {
            int which = round % 3;
            byte[] b = originals[which].clone();
            int kind = r.nextInt(which == 0 ? 4 : 3);
            int headerish = Math.min(b.length, 4096);
            long value = r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : r.nextLong();
            if (kind == 0) {
                for (int k = 0; k < 1 + r.nextInt(8); k++) {
                    b[r.nextInt(headerish)] = (byte) r.nextInt(256);
                }
            } else if (kind == 1) {
                b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
            } else if (kind == 2) {
                int at = r.nextInt(Math.max(1, headerish - 8));
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, value);
            } else { // a shape or offset in the safetensors header
                java.util.regex.Matcher m = NUMBER.matcher(stHeader);
                List<int[]> spans = new ArrayList<>();
                while (m.find()) {
                    spans.add(new int[] {m.start(), m.end()});
                }
                int[] at = spans.get(r.nextInt(spans.size()));
                String h = stHeader.substring(0, at[0]) + (r.nextBoolean() ? value : r.nextLong(0, 1 << 16))
                        + stHeader.substring(at[1]);
                b = safetensors(h, java.util.Arrays.copyOfRange(b, 8 + stHeader.length(), b.length));
            }
            if (which == 2 && b.length >= 32) {
                byte[] sha = org.distillery.core.io.Sha256.newDigest().digest(java.util.Arrays.copyOf(b, b.length - 32));
                System.arraycopy(sha, 0, b, b.length - 32, 32);
            }
            Files.write(files[which], b);
            Path f = files[which];
            String what = "seed " + SEED + ", round " + round + " (mutation " + kind + " of " + f.getFileName() + ")";
            try {
                switch (which) {
                    case 0 -> {
                        SafetensorsFile s = SafetensorsFile.open(f);
                        s.entries().keySet().forEach(s::read);
                    }
                    case 1 -> GgufFile.open(f);
                    default -> Checkpoint.read(f);
                }
            } catch (DistilleryException e) {
                assertTrue(e.getMessage().startsWith(f + ": ") && !e.getMessage().contains("\n"),
                        what + ": not one line naming the file: " + e.getMessage());
            } catch (Throwable t) {
                fail(what + ": " + t, t);
            }
        }
    }

    /** A safetensors file of {@code header} and {@code data}. */
    private static byte[] safetensors(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h)
                .put(data).array();
    }

    /** Every crafted case runs; the test then fails once, listing what each did instead of its error. */
    private final List<String> problems = new ArrayList<>();

    private void refused(Path f, byte[] bytes, String fragment, java.util.function.Consumer<Path> read)
            throws IOException {
        Files.write(f, bytes);
        try {
            read.accept(f);
            problems.add("'" + fragment + "': the file was read");
        } catch (DistilleryException e) {
            if (!e.getMessage().startsWith(f + ": ") || !e.getMessage().contains(fragment)
                    || e.getMessage().contains("\n")) {
                problems.add("'" + fragment + "': said instead: " + e.getMessage());
            }
        } catch (Throwable t) {
            problems.add("'" + fragment + "': " + t);
        }
    }

    /** The config.json {@code original} with {@code key} set to {@code value}. */
    private static byte[] configWith(byte[] original, String key, long value) throws IOException {
        com.fasterxml.jackson.databind.node.ObjectNode n = (com.fasterxml.jackson.databind.node.ObjectNode)
                HfGpt2.JSON.readTree(original);
        n.put(key, value);
        return HfGpt2.JSON.writeValueAsBytes(n);
    }

    /**
     * A config.json whose sizes the safetensors do not hold, or beyond what a spec may ask for: refused naming
     * config.json and the field, from the headers alone. The importer used to allocate the parameters first
     * (terabytes here: std::bad_alloc, or a shape error naming the folder after the allocation), and a context
     * length no tensor checks reached the model's RoPE tables (NegativeArraySizeException).
     */
    @Test
    void aCraftedConfigIsRefusedBeforeAnyAllocation() throws IOException {
        Path config = hf.resolve("config.json");
        byte[] original = Files.readAllBytes(config);
        java.util.function.Consumer<Path> gpt2 = p -> HfImporter.read(hf, "test");
        int max = Integer.MAX_VALUE;
        // Within what a spec may ask for, but not what the tensors hold: the headers say so before any allocation.
        refused(config, configWith(original, "n_embd", 1 << 16), "n_embd is 65536, but "
                + hf.resolve("model.safetensors") + " holds transformer.wte.weight with shape [300, 32] where"
                + " config.json implies 65536 in dimension 1", gpt2);
        refused(config, configWith(original, "vocab_size", max), "vocab_size is " + max + ", but", gpt2);
        refused(config, configWith(original, "n_positions", 1 << 20), "n_positions is 1048576, but", gpt2);
        refused(config, configWith(original, "n_layer", 256), "n_layer is 256, but the model's safetensors"
                + " hold no h.2.ln_1.weight (layer 2)", gpt2);
        // Beyond it: refused by the spec's ranges, naming the key.
        refused(config, configWith(original, "n_embd", 1 << 20), "key n_embd is beyond what Distillery builds:"
                + " model.n_embd must be between 1 and 65536, found 1048576", gpt2);
        refused(config, configWith(original, "n_layer", max), "key n_layer is beyond what Distillery builds:"
                + " model.n_layer must be between 1 and 256, found " + max, gpt2);
        Files.write(config, original);
        HfImporter.read(hf, "test");

        Checkpoint ck = TinyModels.trained(4, LlamaHfTest.GQA);
        Path llama = tmp.resolve("llama");
        HfExporter.export(ck, llama, TensorType.F32, ExportProvenance.of(ck.header(), "model.ckpt", "test"), false);
        Path lconfig = llama.resolve("config.json");
        byte[] llamaConfig = Files.readAllBytes(lconfig);
        java.util.function.Consumer<Path> read = p -> HfImporter.read(llama, "test");
        refused(lconfig, configWith(llamaConfig, "intermediate_size", 1 << 20), "intermediate_size is 1048576, but "
                + llama.resolve("model.safetensors") + " holds model.layers.0.mlp.gate_proj.weight with shape [48, 32]"
                + " where config.json implies 1048576 in dimension 0", read);
        refused(lconfig, configWith(llamaConfig, "num_hidden_layers", 256), "num_hidden_layers is 256, but", read);
        refused(lconfig, configWith(llamaConfig, "num_key_value_heads", 4), "num_key_value_heads is 4, but", read);
        // No tensor has the context's length; the model sized its RoPE tables by it (2^31 × 4 floats) when built.
        refused(lconfig, configWith(llamaConfig, "max_position_embeddings", max), "key max_position_embeddings is"
                + " beyond what Distillery builds: model.block_size must be between 1 and 1048576, found " + max, p -> {
                    Checkpoint c = HfImporter.read(llama, "test");
                    new org.distillery.model.Gpt(org.distillery.model.GptParameters.wrap(c.header().model(),
                            c.section(Checkpoint.PARAMS)));
                });
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    private static final String F32_2 = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";

    @Test
    void craftedSafetensors() throws IOException {
        Path f = tmp.resolve("crafted.safetensors");
        java.util.function.Consumer<Path> read = p -> {
            SafetensorsFile s = SafetensorsFile.open(p);
            s.entries().keySet().forEach(s::read);
        };
        // Offsets past a long: asLong() wrapped them to [0, 8], and the tensor loaded from the wrong bytes.
        refused(f, safetensors("{\"t\":" + F32_2 + "[18446744073709551616,18446744073709551624]}}", new byte[8]),
                "tensor 't' has data_offsets [18446744073709551616,18446744073709551624] beyond", read);
        refused(f, safetensors("{\"t\":" + F32_2 + "[" + (Long.MAX_VALUE - 7) + "," + Long.MAX_VALUE + "]}}",
                new byte[8]), "outside the 8 bytes of tensor data", read);
        refused(f, safetensors("{\"a\":" + F32_2 + "[0,8]},\"b\":" + F32_2 + "[4,12]}}", new byte[12]),
                "tensor 'b' starts at byte 4 of the data, expected 8 (it overlaps", read);
        refused(f, safetensors("{\"t\":" + F32_2 + "[0," + (1L << 40) + "]}}", new byte[8]), "outside the 8 bytes",
                read);
        refused(f, safetensors("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
                new byte[8]), "has an absurdly large shape", read);
        refused(f, safetensors("{\"a\\nb\":" + F32_2 + "[0,9]}}", new byte[9]), "tensor 'a\\u000ab' has shape", read);
        refused(f, safetensors("[" + "[".repeat(5000) + "]".repeat(5000) + "]", new byte[0]), "not JSON", read);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /** An empty tensor may share its offset with the next one, as the reference implementation allows. */
    @Test
    void emptySafetensorsTensors() throws IOException {
        Path f = tmp.resolve("empty.safetensors");
        Files.write(f, safetensors("{\"a\":" + F32_2 + "[0,8]},\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],"
                + "\"data_offsets\":[0,0]}}", new byte[8]));
        SafetensorsFile s = SafetensorsFile.open(f);
        assertEquals(0, s.read("e").length());
        assertEquals(2, s.read("a").length());
    }

    /** Little-endian GGUF pieces, for files a writer would never make. */
    private static final class Gguf {
        private final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();

        Gguf u32(long v) {
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
            return this;
        }

        Gguf u64(long v) {
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
            return this;
        }

        Gguf str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.writeBytes(b);
            return this;
        }

        /** A tensor info: name, one dim of {@code values} F32 values, at {@code offset}. */
        Gguf f32(String name, long values, long offset) {
            return str(name).u32(1).u64(values).u32(0).u64(offset);
        }

        Gguf bytes(int n) {
            out.writeBytes(new byte[n]);
            return this;
        }

        /** The header so far, padded to 32 bytes, then {@code data} zero bytes of tensor data. */
        byte[] withData(int data) {
            bytes((32 - out.size() % 32) % 32);
            return bytes(data).out.toByteArray();
        }

        static Gguf of(long tensors, long kvs) {
            return new Gguf().u32(GgufWriter.MAGIC).u32(3).u64(tensors).u64(kvs);
        }
    }

    @Test
    void craftedGguf() throws IOException {
        Path f = tmp.resolve("crafted.gguf");
        java.util.function.Consumer<Path> open = GgufFile::open;
        // Offset + size wrapped past Long.MAX_VALUE: the old check saw a negative end and let the tensor through.
        refused(f, Gguf.of(1, 0).f32("t", 16, Long.MAX_VALUE / 32 * 32).withData(64),
                "tensor 't' needs 64 bytes at offset " + Long.MAX_VALUE / 32 * 32, open);
        refused(f, Gguf.of(2, 0).f32("a", 16, 0).f32("b", 16, 32).withData(128),
                "tensor 'b' at offset 32 overlaps tensor 'a', which ends at 64", open);
        // A repeated name put fewer names than ranges in the lists: IndexOutOfBoundsException on a later tensor.
        refused(f, Gguf.of(3, 0).f32("a", 16, 0).f32("a", 16, 64).f32("b", 16, 1 << 20).withData(128),
                "tensor 'a' appears twice", open);
        refused(f, Gguf.of(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).withData(0),
                "metadata key 'k' appears twice", open);
        // 16M + 1 u8 values, each boxed: the file has the bytes, the heap should not pay for them.
        int n = (int) GgufFile.MAX_ARRAY_VALUES + 1;
        refused(f, Gguf.of(0, 1).str("tokenizer.ggml.token_type").u32(9).u32(0).u64(n).withData(n),
                "'tokenizer.ggml.token_type' array length " + n + " takes", open);
        refused(f, Gguf.of(0, 1).str("a").u32(9).u32(10).u64(100).withData(120),
                "'a' array length is 100, more than the", open);
        refused(f, Gguf.of(0, 1).str("a").u32(9).u32(13).u64(0).withData(0), "'a' is an array of value type 13",
                open);
        refused(f, Gguf.of(1, 0).str("t").u32(2).u64(1L << 32).u64(1L << 32).u32(0).u64(0).withData(64),
                "tensor 't' has an impossible dim", open);
        refused(f, Gguf.of(1, 0).str("a\nb").u32(1).u64(16).u32(99).u64(0).withData(64),
                "tensor 'a\\u000ab' has ggml type 99", open);
        refused(f, Gguf.of(0, 1).str("k").u32(8).u64(Long.MAX_VALUE).withData(64), "beyond the file or 16 MB",
                open);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    private static String headerOf(Path f) throws IOException {
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return new String(all, 8, (int) n, StandardCharsets.UTF_8);
    }

    /** Replaces the header, keeping its length (the replacement pads or is cut to the same size). */
    private static void rewriteHeader(Path f, String header) throws IOException {
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] padded = new byte[(int) n];
        java.util.Arrays.fill(padded, (byte) ' ');
        System.arraycopy(h, 0, padded, 0, Math.min(h.length, padded.length));
        System.arraycopy(padded, 0, all, 8, padded.length);
        Files.write(f, all);
    }
}
