package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.io.AtomicFile;
import org.distillery.model.Checkpoint;
import org.distillery.model.TinyPrep;
import org.distillery.core.runs.LocalRunStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distillery train} as separate processes: one run straight through, and one killed with
 * SIGKILL at a random step, then resumed with {@code --resume}. The resumed run must follow the
 * uninterrupted loss curve, as read back from the local run store; then {@code generate} samples
 * from the final model.
 *
 * <p>Tolerance: 1e-5 relative per step. Nothing in a step is random except data order and dropout,
 * both functions of (seed, step); a checkpoint restores weights and both Adam moments exactly (float32
 * as in memory), and the same kernels on the same thread count sum in the same order. The curves are
 * in fact bit-identical here; the slack only absorbs a BLAS that splits work differently.
 */
class TrainKillResumeIT {
    private static final int STEPS = 60;

    @TempDir
    Path tmp;

    @Test
    void aRunKilledAtARandomStepResumesOntoTheSameLossCurve() throws Exception {
        Path data = TinyPrep.write(tmp.resolve("prep"), 200, false);
        Path spec = tmp.resolve("tiny.yaml");
        Files.writeString(spec, """
                name: tiny
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: %d, batch_size: 8, log_every: 1}
                eval: {every: 20, batches: 2}
                checkpoints: {every: 5, keep: 2}
                seed: 11
                """.formatted(data, STEPS));

        Path workA = tmp.resolve("work-a");
        Process straight = distillery(workA, "train", spec.toString(), "--out", tmp.resolve("a").toString());
        drain(straight, Long.MAX_VALUE);
        assertEquals(0, straight.waitFor(), "uninterrupted run failed");

        long killAt = 8 + new java.util.Random().nextInt(STEPS - 16); // printed on failure
        Path workB = tmp.resolve("work-b");
        Path outB = tmp.resolve("b");
        Process victim = distillery(workB, "train", spec.toString(), "--out", outB.toString());
        long reached = drain(victim, killAt);
        victim.destroyForcibly(); // SIGKILL: no shutdown hook, no finally
        victim.waitFor(60, TimeUnit.SECONDS);
        assertTrue(reached >= killAt, "the run ended at step " + reached + " before the kill at " + killAt);
        assertFalse(Files.exists(outB.resolve("model.ckpt")), "killed before the end, yet model.ckpt exists");
        try (Stream<Path> files = Files.list(outB.resolve("checkpoints"))) {
            for (Path f : files.toList()) { // no half file under a final name: each one reads and checks
                if (AtomicFile.isTemporary(f)) {
                    continue; // killed while writing this one: a hidden temporary name, which resume removes
                }
                assertTrue(f.getFileName().toString().endsWith(".ckpt"), "stray file " + f);
                Checkpoint.read(f);
            }
        }

        Process resumed = distillery(workB, "train", spec.toString(), "--out", outB.toString(), "--resume");
        drain(resumed, Long.MAX_VALUE);
        assertEquals(0, resumed.waitFor(), "resumed run failed");
        try (Stream<Path> files = Files.list(outB.resolve("checkpoints"))) {
            for (Path f : files.toList()) {
                assertTrue(f.getFileName().toString().matches("step-\\d{8}\\.ckpt"), "stray file after resume " + f);
            }
        }

        Map<Long, Double> want = lossCurve(workA);
        Map<Long, Double> got = lossCurve(workB);
        assertEquals(STEPS, want.size());
        assertSameCurve(want, got, 1e-5, "killed at " + killAt);

        Process sample = distillery(workB, "--progress=none", "generate", outB.resolve("model.ckpt").toString(),
                "the cat", "--max-new-tokens", "12", "--temperature", "1.0", "--top-k", "20", "--seed", "5");
        String text = new String(sample.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, sample.waitFor(), "generate failed: " + text);
        String line = text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        assertTrue(line.startsWith("the cat") && line.length() > "the cat".length(), "generated: " + text);
    }

    @Test
    void sigtermStopsAtAStepWithACheckpointAndAKilledRunThatResumes() throws Exception {
        Path data = TinyPrep.write(tmp.resolve("prep"), 200, false);
        Path spec = tmp.resolve("stop.yaml");
        Files.writeString(spec, """
                name: stop
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: 40, batch_size: 8, log_every: 1}
                eval: {every: 20, batches: 2}
                checkpoints: {every: 50, keep: 2}
                seed: 3
                """.formatted(data));
        Path workA = tmp.resolve("work-a");
        Process straight = distillery(workA, "train", spec.toString(), "--out", tmp.resolve("a").toString());
        drain(straight, Long.MAX_VALUE);
        assertEquals(0, straight.waitFor(), "uninterrupted run failed");

        // No periodic checkpoint falls before step 40: whatever resumes, the stop itself saved.
        long stopAt = 5 + new java.util.Random().nextInt(25);
        Path work = tmp.resolve("work-b");
        Path out = tmp.resolve("b");
        Process p = distillery(work, "train", spec.toString(), "--out", out.toString());
        long reached = drain(p, stopAt);
        p.toHandle().destroy(); // SIGTERM, the graceful stop (Process.destroy would also close our end of the pipes)
        List<String> rest = new ArrayList<>();
        new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8)).lines().forEach(rest::add);
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "no exit after SIGTERM");
        assertEquals(143, p.exitValue(), "exit status after SIGTERM");
        String failed = rest.stream().filter(l -> l.contains("\"failed\"")).findFirst().orElse("");
        assertTrue(failed.contains("stopped at step") && failed.contains("--resume"), "last events: " + rest);
        LocalRunStore store = new LocalRunStore(work.resolve("runs"));
        assertEquals("KILLED", store.list().get(0).status());
        try (Stream<Path> files = Files.list(out.resolve("checkpoints"))) {
            List<Path> ckpts = files.toList();
            assertEquals(1, ckpts.size(), "the stop's checkpoint: " + ckpts);
            long step = Checkpoint.readHeader(ckpts.get(0)).step();
            assertTrue(step >= reached && step < 40, "checkpoint at " + step + ", stopped after " + reached);
        }

        Process resumed = distillery(work, "train", spec.toString(), "--out", out.toString(), "--resume");
        drain(resumed, Long.MAX_VALUE);
        assertEquals(0, resumed.waitFor(), "resumed run failed");
        assertEquals("FINISHED", store.list().get(0).status());
        Map<Long, Double> want = lossCurve(workA);
        Map<Long, Double> got = lossCurve(work);
        // 1e-3 here: two fresh runs of this wider, dropout-free spec already differ by ~1e-5 within 20 steps
        // (MKL's threaded products are not bit-reproducible from run to run), and the gap grows with the
        // steps. A resume that lost the Adam moments or the data order is off by far more.
        assertSameCurve(want, got, 1e-3, "stopped at " + stopAt);
    }

    @Test
    void anUnreachableTrackingServerIsAWarningAndTheRunStaysLocal() throws Exception {
        Path data = TinyPrep.write(tmp.resolve("prep"), 40, false);
        Path spec = tmp.resolve("short.yaml");
        Files.writeString(spec, """
                name: short
                data:
                  path: %s
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                training: {steps: 6, batch_size: 4, log_every: 1}
                eval: {every: 3, batches: 1}
                checkpoints: {every: 3, keep: 1}
                """.formatted(data));
        Path work = tmp.resolve("work");
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort(); // closed again: connections are refused
        }
        Process p = distillery(work, "--tracking-uri", "http://127.0.0.1:" + port, "train", spec.toString());
        List<String> stderr = new ArrayList<>();
        drain(p, Long.MAX_VALUE, stderr);
        assertEquals(0, p.waitFor(), "training must not fail for a tracking server that is down");
        String err = String.join("\n", stderr);
        assertTrue(err.contains("127.0.0.1:" + port) && err.toLowerCase(java.util.Locale.ROOT).contains("warning"),
                "stderr: " + err);
        assertEquals(6, lossCurve(work).size(), "every metric is in the local run store");
    }

    /** The same steps logged, each loss within {@code relative} of the reference's. */
    static void assertSameCurve(Map<Long, Double> want, Map<Long, Double> got, double relative, String context) {
        assertEquals(want.keySet(), got.keySet(), "steps logged (" + context + ")");
        for (long s : want.keySet()) {
            double w = want.get(s);
            assertEquals(w, got.get(s), relative * Math.abs(w), "train/loss at step " + s + " (" + context + ")");
        }
    }

    /** train/loss per step from the one run in a work dir's local run store (later lines win). */
    static Map<Long, Double> lossCurve(Path work) throws IOException {
        LocalRunStore store = new LocalRunStore(work.resolve("runs"));
        List<LocalRunStore.Meta> runs = store.list();
        assertEquals(1, runs.size(), "a resumed run continues its run, it does not start another: " + runs);
        Map<Long, Double> curve = new TreeMap<>();
        for (LocalRunStore.Metric m : store.metrics(runs.get(0))) {
            if (m.key().equals("train/loss")) {
                curve.put(m.step(), m.value());
            }
        }
        return curve;
    }

    /**
     * Reads the process's JSON progress events (its stderr) until it reports step {@code until} (or ends); returns
     * the last step seen. Output is consumed so the child never blocks on a full pipe; other stderr lines are
     * echoed to ours.
     */
    static long drain(Process p, long until) throws IOException {
        return drain(p, until, new ArrayList<>());
    }

    /** {@link #drain(Process, long)}, keeping every stderr line read in {@code lines}. */
    static long drain(Process p, long until, List<String> lines) throws IOException {
        long step = 0;
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            lines.add(line);
            if (line.startsWith("{")) {
                ProgressEvent e = ProgressEvent.parse(line);
                if (e instanceof ProgressEvent.Progress pe && "train".equals(pe.stage())) {
                    step = pe.done();
                    if (step >= until) {
                        return step;
                    }
                }
            } else {
                System.err.println(line);
            }
        }
        return step;
    }

    /**
     * bin/distillery's JVM: the build's flags, the test class path (the cli and every module it uses); JSON progress
     * on its stderr, for {@link #drain}.
     */
    static Process distillery(Path work, String... args) throws IOException {
        List<String> cmd = command(work);
        if (!List.of(args).contains("--progress=none")) {
            cmd.add("--progress=json");
        }
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
        pb.environment().remove("MLFLOW_TRACKING_URI");
        return pb.start();
    }

    /** The java command line that runs the distillery command in {@code work}, without its arguments. */
    static List<String> command(Path work) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(Files.readString(Path.of("target", "jvm.options")).trim().split("\\s+")));
        cmd.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), Distillery.class.getName(),
                "--work-dir", work.toString()));
        return cmd;
    }
}
