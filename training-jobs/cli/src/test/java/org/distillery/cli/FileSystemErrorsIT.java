package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training run whose checkpoint cannot be written: no space left, a read-only file system, a folder it
 * may not write. Each is the real condition: small tmpfs mounts (the tests run as root, as CI does) and,
 * for permissions, root without CAP_DAC_OVERRIDE ({@code setpriv}), which file modes then bind. Each must
 * give one {@code error:} line naming the file and the problem in plain words, no stack trace (but with
 * {@code --verbose}), nothing half-written under the output, and the run marked FAILED.
 */
class FileSystemErrorsIT {
    @TempDir
    static Path dir;
    static Path data;
    static final List<Path> MOUNTS = new ArrayList<>();

    @BeforeAll
    static void data() throws IOException {
        data = TinyPrep.write(dir.resolve("prep"), 40, false);
    }

    @AfterAll
    static void unmount() throws Exception {
        for (Path m : MOUNTS) {
            sh("umount", m.toString());
        }
    }

    /** A tmpfs of {@code options} at a new folder: the tests need root, which CI has. */
    static Path mount(String name, String options) throws Exception {
        Path at = Files.createDirectories(dir.resolve(name));
        String err = sh("mount", "-t", "tmpfs", "-o", options, "tmpfs", at.toString());
        assertEquals("", err, "mount a tmpfs (" + options + ") at " + at + "; these tests need root");
        MOUNTS.add(at);
        return at;
    }

    static String sh(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(60, TimeUnit.SECONDS);
        return p.exitValue() == 0 ? "" : String.join(" ", cmd) + ": " + out;
    }

    /** Trains 4 steps of a model whose checkpoint (~0.4 MiB with the optimizer's state) goes to {@code out}. */
    static CliRun train(String name, Path out, List<String> prefix, String... extra) throws Exception {
        Path spec = dir.resolve(name + ".yaml");
        Files.writeString(spec, """
                name: %s
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                optimizer: {warmup_steps: 2}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """.formatted(name, data));
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(TrainKillResumeIT.command(dir.resolve("work")));
        cmd.addAll(List.of("--progress=none", "train", spec.toString(), "--out", out.toString()));
        cmd.addAll(List.of(extra));
        Path stdout = dir.resolve(name + ".out");
        Path stderr = dir.resolve(name + ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
        pb.environment().remove("MLFLOW_TRACKING_URI");
        Process p = pb.start();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), name + " did not end");
        CliRun r = new CliRun(p.exitValue(), Files.readString(stdout), Files.readString(stderr));
        System.out.println(name + " (exit " + r.code() + "): " + errorLines(r).stream().limit(3).toList());
        return r;
    }

    /** The stderr lines that are not the JVM's own notes. */
    static List<String> errorLines(CliRun r) {
        return r.err().lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    }

    static void assertNothingHalfWritten(Path out) throws IOException {
        if (!Files.exists(out)) {
            return;
        }
        try (Stream<Path> s = Files.walk(out)) {
            List<Path> files = s.filter(Files::isRegularFile).toList();
            assertFalse(files.stream().anyMatch(f -> f.getFileName().toString().endsWith(".ckpt")
                    || f.getFileName().toString().contains(".tmp-")), "left under " + out + ": " + files);
        }
    }

    static void assertRunFailed(String name) {
        LocalRunStore store = new LocalRunStore(dir.resolve("work").resolve("runs"));
        LocalRunStore.Meta run = store.list().stream().filter(m -> m.runName().equals("train-" + name)).findFirst()
                .orElseThrow();
        assertEquals("FAILED", run.status(), "the run of " + name);
    }

    @Test
    void noSpaceLeftSaysWhatWasNeededAndWhatIsFree() throws Exception {
        Path full = mount("full", "size=64k");
        Path out = full.resolve("model");
        CliRun r = train("full", out, List.of());
        assertEquals(Distillery.ExitCode.IO_FAILED, r.code(), r.err());
        List<String> lines = errorLines(r);
        assertEquals(1, lines.size(), "one line, no stack trace: " + r.err());
        assertTrue(lines.get(0).matches("error: " + java.util.regex.Pattern.quote(out.toString())
                + "/\\S+\\.ckpt: no space left on device \\(needs \\d+\\.\\d KiB, \\d+\\.\\d KiB free\\)"), lines.get(0));
        assertNothingHalfWritten(out);
        assertRunFailed("full");

        CliRun verbose = train("full-verbose", full.resolve("again"), List.of(), "--verbose");
        assertEquals(Distillery.ExitCode.IO_FAILED, verbose.code());
        assertTrue(verbose.err().contains("no space left on device") && verbose.err().contains("\tat "),
                "--verbose adds the stack trace: " + verbose.err());
    }

    @Test
    void aReadOnlyFileSystemIsNamed() throws Exception {
        Path ro = mount("ro", "size=64k,ro");
        CliRun r = train("ro", ro.resolve("model"), List.of());
        assertEquals(Distillery.ExitCode.IO_FAILED, r.code(), r.err());
        List<String> lines = errorLines(r);
        assertEquals(List.of("error: " + ro.resolve("model") + ": read-only file system"), lines);
        assertRunFailed("ro");
    }

    @Test
    void aFolderItMayNotWriteIsPermissionDenied() throws Exception {
        Path locked = Files.createDirectories(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
        Files.createDirectories(dir.resolve("work"));
        // root keeps its uid (so it reads the build's class path) but loses the override of file modes
        List<String> asUser = List.of("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
                "-dac_override,-dac_read_search");
        CliRun r = train("locked", locked.resolve("model"), asUser);
        assertEquals(Distillery.ExitCode.IO_FAILED, r.code(), r.err());
        assertEquals(List.of("error: " + locked.resolve("model") + ": permission denied"), errorLines(r));
        assertNothingHalfWritten(locked);
        assertRunFailed("locked");
    }
}
