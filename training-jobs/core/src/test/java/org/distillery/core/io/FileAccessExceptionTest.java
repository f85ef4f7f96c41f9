package org.distillery.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Java's I/O failures as a user reads them: the file, then the problem in plain words. */
class FileAccessExceptionTest {
    @TempDir
    Path tmp;

    @Test
    void javasMessagesInPlainWordsWithTheFile() {
        Path f = tmp.resolve("model.ckpt");
        assertTrue(FileAccessException.of(f, new IOException("No space left on device")).getMessage()
                .matches(java.util.regex.Pattern.quote(f.toString()) + ": no space left on device \\(.+ free\\)"));
        assertEquals(f + ": read-only file system",
                FileAccessException.of(f, new FileSystemException(f.toString(), null, "Read-only file system")).getMessage());
        assertEquals(f + ": permission denied",
                FileAccessException.of(f, new AccessDeniedException(f.toString())).getMessage());
        assertEquals(tmp + ": permission denied", FileAccessException.describe(new AccessDeniedException(tmp.toString())));
        assertEquals("no space left on device", FileAccessException.describe(new IOException("No space left on device")));
    }

    @Test
    void aFailureOnAnotherFileNamesThatFileAndOneOnTheTemporaryNamesTheTarget() {
        Path target = tmp.resolve("out.json");
        Path source = tmp.resolve("missing.txt");
        assertEquals(source + ": does not exist",
                FileAccessException.of(target, new NoSuchFileException(source.toString())).getMessage());
        Path temporary = AtomicFile.temporaryFor(tmp, target);
        assertEquals(target + ": permission denied",
                FileAccessException.of(target, new AccessDeniedException(temporary.toString())).getMessage());
    }

    @Test
    void aWriteWithNoRoomIsRefusedBeforeItStartsAndLeavesNothing() throws IOException {
        Path target = tmp.resolve("big.bin");
        FileAccessException e = assertThrows(FileAccessException.class,
                () -> AtomicFile.write(target, Long.MAX_VALUE / 2, out -> out.write(1)));
        assertTrue(e.getMessage().startsWith(target + ": no space left on device (needs "), e.getMessage());
        assertEquals(target, e.file());
        try (Stream<Path> s = Files.list(tmp)) {
            assertFalse(s.findAny().isPresent(), "nothing written");
        }
    }
}
