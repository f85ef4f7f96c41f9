package org.distillery.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicDirectoryTest {
    @TempDir
    Path tmp;

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void anInterruptedWriteLeavesNothingUnderTheFinalNameAndNoStaging() throws IOException {
        Path target = tmp.resolve("export");
        assertThrows(IOException.class, () -> AtomicDirectory.write(target, false, staging -> {
            AtomicFile.write(staging.resolve("config.json"), "{}".getBytes());
            throw new IOException("disk full while writing the weights");
        }));
        assertEquals(List.of(), names(), "no final folder, no .partial- folder");
    }

    @Test
    void anInterruptedOverwriteKeepsTheOldFolderWhole() throws IOException {
        Path target = tmp.resolve("export");
        AtomicDirectory.write(target, false, staging -> AtomicFile.write(staging.resolve("a.bin"), new byte[] {1}));
        assertThrows(IOException.class, () -> AtomicDirectory.write(target, true, staging -> {
            throw new IOException("killed");
        }));
        assertEquals(List.of("export"), names());
        assertEquals(1, Files.readAllBytes(target.resolve("a.bin"))[0]);
        DistilleryException e = assertThrows(DistilleryException.class,
                () -> AtomicDirectory.write(target, false, staging -> { }));
        assertTrue(e.getMessage().contains("--overwrite"), e.getMessage());
        AtomicDirectory.write(target, true, staging -> AtomicFile.write(staging.resolve("b.bin"), new byte[] {2}));
        assertFalse(Files.exists(target.resolve("a.bin")), "replaced whole");
        assertTrue(Files.exists(target.resolve("b.bin")));
        assertEquals(List.of("export"), names());
    }

    @Test
    void aResumableWriteKeepsFinishedFilesForTheSameWorkOnly() throws IOException {
        Path target = tmp.resolve("logits");
        assertThrows(IOException.class, () -> AtomicDirectory.writeResumable(target, false, "work-1", staging -> {
            AtomicFile.write(staging.resolve("a.bin"), new byte[] {1});
            throw new IOException("killed after the first file");
        }));
        assertEquals(List.of(".logits.partial"), names(), "the staging folder stays; no final folder");
        List<String> seen = new java.util.ArrayList<>();
        assertThrows(IOException.class, () -> AtomicDirectory.writeResumable(target, false, "work-1", staging -> {
            seen.add(Files.exists(staging.resolve("a.bin")) ? "a.bin kept" : "a.bin gone");
            throw new IOException("killed again");
        }));
        AtomicDirectory.writeResumable(target, false, "work-2", staging -> {
            seen.add(Files.exists(staging.resolve("a.bin")) ? "a.bin kept" : "a.bin gone");
            AtomicFile.write(staging.resolve("b.bin"), new byte[] {2});
        });
        assertEquals(List.of("a.bin kept", "a.bin gone"), seen, "other work does not resume from it");
        assertEquals(List.of("logits"), names());
        try (Stream<Path> s2 = Files.list(target)) {
            assertEquals(List.of("b.bin"), s2.map(p -> p.getFileName().toString()).toList(), "no resume key left");
        }
    }
}
