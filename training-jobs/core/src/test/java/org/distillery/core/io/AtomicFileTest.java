package org.distillery.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
    @TempDir
    Path dir;

    /** What a killed writer leaves is a hidden temporary file, which removeLeftovers deletes and nothing else. */
    @Test
    void leftoversOfKilledWritesAreTemporaryNamesAndOnlyTheyAreRemoved() throws Exception {
        Path target = dir.resolve("step-00000005.ckpt");
        AtomicFile.write(target, new byte[] {1, 2, 3});
        Path killed = AtomicFile.temporaryFor(dir, dir.resolve("step-00000010.ckpt"));
        Files.write(killed, new byte[] {9}); // as if the writer died before its rename
        Path hidden = Files.writeString(dir.resolve(".keep"), "x");
        assertTrue(AtomicFile.isTemporary(killed), killed.toString());
        assertFalse(AtomicFile.isTemporary(target));
        assertFalse(AtomicFile.isTemporary(hidden));

        AtomicFile.removeLeftovers(dir);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(Set.of("step-00000005.ckpt", ".keep"),
                    s.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
        AtomicFile.removeLeftovers(dir.resolve("absent")); // no folder, nothing to do
    }
}
