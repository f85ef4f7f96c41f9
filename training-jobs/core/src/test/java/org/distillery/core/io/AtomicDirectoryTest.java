package org.distillery.core.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicDirectoryTest {
    @TempDir
    Path tmp;

    private final List<Path> mounts = new ArrayList<>();

    @AfterEach
    void unmount() throws IOException {
        for (Path m : mounts) {
            sh("umount", m.toString());
        }
    }

    /**
     * Mounts a small tmpfs at {@code at}: the kernel then refuses to rename that folder (device or resource busy),
     * a real failure of the final rename that root's permissions do not bypass. Needs root, which CI has.
     */
    private void mount(Path at) throws IOException {
        String err = sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", at.toString());
        assertEquals("", err, "mount a tmpfs at " + at + "; this test needs root");
        mounts.add(at);
    }

    private static String sh(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        try {
            p.waitFor(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(String.join(" ", cmd) + ": interrupted");
        }
        return p.exitValue() == 0 ? "" : String.join(" ", cmd) + ": " + out;
    }

    private List<String> names() throws IOException {
        return names(tmp);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
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

    /**
     * The new folder is complete and the old one already renamed aside when the rename into place fails: the
     * old one goes back under its name, whole, and a rerun replaces it.
     */
    @Test
    void anOverwriteWhoseFinalRenameFailsPutsTheOldFolderBack() throws IOException {
        Path target = tmp.resolve("export");
        AtomicDirectory.write(target, false, staging -> AtomicFile.write(staging.resolve("a.bin"), new byte[] {1}));
        IOException e = assertThrows(IOException.class, () -> AtomicDirectory.write(target, true, staging -> {
            mount(staging);
            AtomicFile.write(staging.resolve("b.bin"), new byte[] {2});
        }));
        assertEquals(List.of("a.bin"), names(target));
        assertEquals(1, Files.readAllBytes(target.resolve("a.bin"))[0], "the old output, whole");
        assertTrue(e.getMessage().startsWith(target.toAbsolutePath() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("busy"), e.getMessage());
        assertEquals(List.of(), names().stream().filter(n -> n.contains(".old-")).toList(), "nothing renamed aside");
        unmount(); // the staging folder, a mount point, could not be removed; it is an empty folder now
        mounts.clear();

        AtomicDirectory.write(target, true, staging -> AtomicFile.write(staging.resolve("c.bin"), new byte[] {3}));
        assertEquals(List.of("c.bin"), names(target));
    }

    /** The same for a resumable write, whose staging folder also stays resumable: its key goes back in. */
    @Test
    void aResumableOverwriteWhoseFinalRenameFailsPutsTheOldFolderBack() throws IOException {
        Path target = tmp.resolve("logits");
        AtomicDirectory.writeResumable(target, false, "work-1",
                staging -> AtomicFile.write(staging.resolve("a.bin"), new byte[] {1}));
        Path staging = AtomicDirectory.resumableStaging(target);
        Files.createDirectory(staging);
        mount(staging);
        Files.writeString(staging.resolve(AtomicDirectory.RESUME_KEY), "work-2\n");
        IOException e = assertThrows(IOException.class, () -> AtomicDirectory.writeResumable(target, true, "work-2",
                s -> AtomicFile.write(s.resolve("b.bin"), new byte[] {2})));
        assertEquals(List.of("a.bin"), names(target));
        assertEquals(1, Files.readAllBytes(target.resolve("a.bin"))[0], "the old output, whole");
        assertTrue(e.getMessage().startsWith(target.toAbsolutePath() + ": "), e.getMessage());
        assertEquals(List.of(".logits.partial", "logits"), names(), "nothing renamed aside");
        assertEquals(List.of(AtomicDirectory.RESUME_KEY, "b.bin"), names(staging), "finished work kept");
        assertEquals("work-2", Files.readString(staging.resolve(AtomicDirectory.RESUME_KEY)).strip());
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
