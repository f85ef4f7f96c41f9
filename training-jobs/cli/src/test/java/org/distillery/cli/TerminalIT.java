package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/distillery on a terminal: a pseudo-terminal from util-linux's {@code script}, stdout redirected to a file as
 * a user does with {@code > results.txt}. The bar is drawn on the terminal with the latest loss beside it, the
 * results land in the file, and a stop request leaves the bar where the run stopped.
 */
class TerminalIT {
    private static final Pattern STEPS = Pattern.compile("(\\d+)/(\\d+) \\([^)]*\\) steps, loss \\d+\\.\\d{4}");

    @TempDir
    Path tmp;

    private Path spec(long steps) throws IOException {
        Path data = TinyPrep.write(tmp.resolve("prep"), 200, false);
        Path spec = tmp.resolve("tty.yaml");
        Files.writeString(spec, """
                name: tty
                data:
                  path: %s
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                optimizer: {lr: 0.01, warmup_steps: 2}
                training: {steps: %d, batch_size: 2, log_every: 1}
                eval: {every: 50, batches: 1}
                checkpoints: {every: 100000, keep: 1}
                """.formatted(data, steps));
        return spec;
    }

    /**
     * {@code bin/distillery ARGS > stdout} in a pseudo-terminal; what the terminal showed is the process's stdout.
     * The shell lingers a moment after java ends: script closes the terminal when its child exits, and the
     * launcher's stderr filter may still be writing java's last line.
     */
    private Process onTerminal(Path stdout, String args) throws IOException {
        String line = RepoFixtures.root().resolve("bin/distillery") + " --work-dir " + tmp.resolve("work") + " " + args
                + " > " + stdout + "; rc=$?; sleep 1; exit $rc";
        ProcessBuilder pb = new ProcessBuilder("script", "-qefc", line, "/dev/null").redirectErrorStream(true);
        pb.environment().remove("MLFLOW_TRACKING_URI");
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        return pb.start();
    }

    /** The last "done/total ... steps, loss x" the bar showed. */
    private static long[] lastBar(String terminal) {
        Matcher m = STEPS.matcher(terminal);
        long[] last = null;
        while (m.find()) {
            last = new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
        }
        assertTrue(last != null, "no bar with the loss beside it on the terminal:\n" + terminal);
        return last;
    }

    @Test
    void theBarShowsTheLossOnTheTerminalAndTheResultsGoWhereStdoutIsSent() throws Exception {
        Path results = tmp.resolve("results.txt");
        Process p = onTerminal(results, "train " + spec(30));
        String terminal = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(3, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), terminal);
        assertEquals(30, lastBar(terminal)[0], "a finished run's bar is full");
        assertFalse(terminal.contains("{\"schema\""), "no JSON events on a terminal:\n" + terminal);
        List<String> lines = Files.readAllLines(results);
        assertTrue(lines.get(0).startsWith("model          ") && lines.get(0).endsWith("model.ckpt"), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("val loss       ")), lines.toString());
        assertFalse(terminal.contains("val loss       "), "the results went to the file, not the terminal");
    }

    @Test
    void aStopRequestLeavesTheBarWhereTheRunStopped() throws Exception {
        Path results = tmp.resolve("results.txt");
        Process p = onTerminal(results, "train " + spec(1_000_000));
        InputStream in = p.getInputStream();
        StringBuilder terminal = new StringBuilder();
        byte[] buf = new byte[8192];
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!STEPS.matcher(terminal).find() && System.nanoTime() < deadline) {
            int n = in.read(buf);
            if (n < 0) {
                break;
            }
            terminal.append(new String(buf, 0, n, StandardCharsets.UTF_8));
        }
        ProcessHandle java = p.descendants().filter(h -> h.info().command().orElse("").endsWith("/java")).findFirst()
                .orElseThrow(() -> new AssertionError("no java under script:\n" + terminal));
        java.destroy(); // SIGTERM: the graceful stop
        terminal.append(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        assertEquals(143, p.exitValue(), terminal.toString());
        long[] last = lastBar(terminal.toString());
        assertTrue(last[0] > 0 && last[0] < last[1], "the bar stopped at " + last[0] + " of " + last[1]);
        assertTrue(terminal.toString().contains("error: stopped at step "), terminal.toString());
    }
}
