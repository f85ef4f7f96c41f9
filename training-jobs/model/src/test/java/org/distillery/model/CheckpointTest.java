package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class CheckpointTest {
    @TempDir
    Path tmp;

    Path write() throws IOException {
        GptConfig c = GptTest.TINY;
        GptParameters p = GptParameters.initialize(c, 3);
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, p.flat());
        sections.put(Checkpoint.ADAM_M, p.flat().mul(2));
        Checkpoint.Header h = new Checkpoint.Header(Checkpoint.FORMAT, Checkpoint.VERSION, "test", "now", c, 7, 700,
                new Checkpoint.Training(1, 7, 4, 1, 0.9, 0.95, 1e-8, 0.1),
                new Checkpoint.Tokenizer("abc", 37, "{}"), new Checkpoint.Data("def", "/data"), Map.of("val/loss", 2.5),
                Map.of("name", "x"), "run", null);
        Path f = tmp.resolve("a.ckpt");
        new Checkpoint(h, sections).write(f);
        return f;
    }

    @Test
    void roundTripsBitForBit() throws IOException {
        Path f = write();
        Checkpoint ck = Checkpoint.read(f);
        GptParameters p = GptParameters.initialize(GptTest.TINY, 3);
        assertArrayEquals(p.flat().toFloatVector(), ck.section(Checkpoint.PARAMS).toFloatVector());
        assertArrayEquals(p.flat().mul(2).toFloatVector(), ck.section(Checkpoint.ADAM_M).toFloatVector());
        assertEquals(7, ck.header().step());
        assertEquals(GptTest.TINY, ck.header().model());
        assertEquals(List.of(Checkpoint.PARAMS, Checkpoint.ADAM_M),
                ck.header().sections().stream().map(Checkpoint.Section::name).toList());
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary file is left beside the checkpoint");
        }
    }

    @Test
    void truncatedFileIsAnErrorNamingIt() throws IOException {
        Path f = write();
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(raf.length() - 100);
        }
        DistilleryException e = assertThrows(DistilleryException.class, () -> Checkpoint.read(f));
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void flippedByteFailsTheChecksum() throws IOException {
        Path f = write();
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.seek(raf.length() - 200);
            int b = raf.read();
            raf.seek(raf.length() - 200);
            raf.write(b ^ 0x40);
        }
        DistilleryException e = assertThrows(DistilleryException.class, () -> Checkpoint.read(f));
        assertTrue(e.getMessage().contains(f + ": fails its SHA-256 check"), e.getMessage());
    }

    @Test
    void otherFilesAndAbsurdHeadersAreRefusedWithoutHugeAllocations() throws IOException {
        Path notOne = tmp.resolve("b.ckpt");
        Files.writeString(notOne, "this is not a checkpoint at all, just some text");
        assertTrue(assertThrows(DistilleryException.class, () -> Checkpoint.read(notOne)).getMessage()
                .contains("wrong magic"));
        Path huge = tmp.resolve("c.ckpt");
        byte[] b = new byte[64];
        System.arraycopy(Checkpoint.MAGIC, 0, b, 0, 8);
        b[8] = 1;
        for (int i = 12; i < 20; i++) {
            b[i] = (byte) 0x7f; // header length ~ 9e18
        }
        Files.write(huge, b);
        assertTrue(assertThrows(DistilleryException.class, () -> Checkpoint.read(huge)).getMessage()
                .contains("truncated or corrupt"));
        Path empty = tmp.resolve("d.ckpt");
        Files.write(empty, new byte[0]);
        assertTrue(assertThrows(DistilleryException.class, () -> Checkpoint.read(empty)).getMessage()
                .contains("shorter than"));
    }
}
