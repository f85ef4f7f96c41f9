package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/distillery as users run it: stderr holds what matters (not the JVM's note about the incubator module
 * every command used to start with), the process is java itself (signals and stdin reach it), and the
 * exit status is the command's.
 */
class LauncherIT {
    @TempDir
    Path tmp;

    record Ran(int code, String out, String err) {
    }

    static Process start(String... args) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(List.of(RepoFixtures.root().resolve("bin/distillery").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("MLFLOW_TRACKING_URI");
        return pb.start();
    }

    static Ran finish(Process p) throws Exception {
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "bin/distillery did not end");
        return new Ran(p.exitValue(), out.get(), err.get());
    }

    static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void stderrHoldsOnlyWhatMatters() throws Exception {
        Ran version = finish(start("--version"));
        assertEquals(0, version.code(), version.err());
        assertTrue(version.out().startsWith("distillery "), version.out());
        assertEquals("", version.err(), "nothing on stderr for a command that worked");

        Path missing = tmp.resolve("missing.yaml");
        Ran bad = finish(start("train", missing.toString()));
        assertEquals(2, bad.code());
        assertEquals("error: " + missing + ": spec file not found\n", bad.err());
    }

    @Test
    void theProcessIsJavaAndReadsItsOwnStdin() throws Exception {
        Path prep = TinyPrep.write(tmp.resolve("prep"), 20, false);
        Process p = start("tokenizer", "encode", "--tokenizer", prep.resolve("tokenizer.json").toString());
        Thread.sleep(500); // the script has exec'd by now, or is about to
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String command = "";
        while (System.nanoTime() < deadline && !command.endsWith("/java")) {
            command = p.toHandle().info().command().orElse("");
            Thread.sleep(50);
        }
        assertTrue(command.endsWith("/java"), "the launcher's process runs " + command);
        p.getOutputStream().write("ab".getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        Ran r = finish(p);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().strip().matches("\\d+( \\d+)*"), "ids of stdin's text: " + r.out());
        assertEquals("", r.err());
    }
}
