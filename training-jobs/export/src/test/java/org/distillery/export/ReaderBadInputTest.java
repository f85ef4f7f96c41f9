package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

    /**
     * Random byte flips, truncations and length-field overwrites of valid files: every reader either
     * succeeds or throws a DistilleryException naming the file, never anything else. A checkpoint carries
     * the SHA-256 of its contents, so for it every change must be refused: none may load.
     */
    @Test
    void fuzzOfTheReaders() throws IOException {
        Path st = hf.resolve("model.safetensors");
        Path gg = gguf.resolve(GgufExporter.FILE);
        Path ck = tmp.resolve("model.ckpt");
        TinyModels.trained(6).write(ck);
        byte[][] originals = {Files.readAllBytes(st), Files.readAllBytes(gg), Files.readAllBytes(ck)};
        Path[] files = {st, gg, ck};
        SplittableRandom r = new SplittableRandom(11);
        for (int round = 0; round < 300; round++) {
            int which = round % 3;
            byte[] b = originals[which].clone();
            int kind = r.nextInt(3);
            int headerish = Math.min(b.length, 4096);
            if (kind == 0) {
                for (int k = 0; k < 1 + r.nextInt(8); k++) {
                    b[r.nextInt(headerish)] = (byte) r.nextInt(256);
                }
            } else if (kind == 1) {
                b = java.util.Arrays.copyOf(b, r.nextInt(b.length));
            } else {
                int at = r.nextInt(Math.max(1, headerish - 8));
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, r.nextLong());
            }
            Files.write(files[which], b);
            Path f = files[which];
            boolean changed = !java.util.Arrays.equals(b, originals[which]);
            try {
                switch (which) {
                    case 0 -> {
                        SafetensorsFile s = SafetensorsFile.open(f);
                        s.entries().keySet().forEach(s::read);
                    }
                    case 1 -> GgufFile.open(f);
                    default -> {
                        Checkpoint.read(f);
                        assertTrue(!changed, "round " + round + ": a changed checkpoint loaded (mutation " + kind + ")");
                    }
                }
            } catch (DistilleryException e) {
                assertTrue(e.getMessage().contains(f.toString()), "round " + round + ": " + e.getMessage());
            }
        }
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
