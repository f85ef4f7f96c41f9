package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.core.testing.SparkDistribution;
import org.distillery.model.Checkpoint;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code spark-submit} of the job jar's {@code train} over 2 ranks to a standalone master with 2 workers of 1 core
 * each (127.0.0.1, started from the real Spark distribution): one rank per worker, against the same spec trained in
 * one process. The loss curves (from the local run stores, as {@code runs show} reads them) agree to 1e-5 relative
 * and so do the final weights: the ranks split each step's micro-batches and sum their gradients, which changes
 * only the order of float sums.
 */
class DistributedTrainIT {
    private static final long JOB_TIMEOUT_S = 420;
    private static final int STEPS = 24;

    @TempDir
    static Path dir;
    static SparkDistribution.Cluster cluster;
    static Path spec;
    static Path workOne;

    @BeforeAll
    static void start() throws Exception {
        Path data = TinyPrep.write(dir.resolve("prep"), 200, false);
        spec = dir.resolve("tiny.yaml");
        Files.writeString(spec, """
                name: tiny
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: %d, batch_size: 4, grad_accum: 4, log_every: 1}
                eval: {every: 8, batches: 2}
                checkpoints: {every: 4, keep: 2}
                distributed: {ranks: 2, check_every: 4, timeout_s: 60}
                seed: 11
                """.formatted(data, STEPS));
        cluster = SparkDistribution.find().startCluster(dir.resolve("cluster"), 2, 1, "2g", true);
        // The one-process run goes through spark-submit of the job jar too (it trains in the driver), so it runs
        // the executors' libraries: the job jar carries OpenBLAS, while a checkout's classpath prefers MKL, whose
        // products differ in the last bits.
        workOne = dir.resolve("work-one");
        Submitted one = submit("one", List.of(), "--work-dir", workOne.toString(), "train", spec.toString(),
                "--ranks", "1", "--out", dir.resolve("one").toString());
        assertEquals(0, one.exit(), one.output());
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A spark-submit running: its process and the log its output goes to. */
    record Submitted(String name, Process process, Path log) {
        /** Waits for a progress event that {@code test} accepts; fails when the job ends first. */
        ProgressEvent await(Predicate<ProgressEvent> test, String what) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(JOB_TIMEOUT_S);
            while (System.nanoTime() < deadline) {
                Optional<ProgressEvent> e = events().stream().filter(test).findFirst();
                if (e.isPresent()) {
                    return e.get();
                }
                if (!process.isAlive()) {
                    throw new AssertionError(name + " ended before " + what + ":\n" + SparkDistribution.tail(log, 40));
                }
                Thread.sleep(200);
            }
            throw new AssertionError(name + ": no " + what + " in " + JOB_TIMEOUT_S + " s");
        }

        List<ProgressEvent> events() throws IOException {
            List<ProgressEvent> out = new ArrayList<>();
            long n = 0;
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                ProgressEvent.read(line, ++n).ifPresent(out::add);
            }
            return out;
        }

        int exit() throws Exception {
            if (!process.waitFor(JOB_TIMEOUT_S, TimeUnit.SECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                throw new AssertionError(name + " did not end in " + JOB_TIMEOUT_S + " s:\n"
                        + SparkDistribution.tail(log, 40));
            }
            return process.exitValue();
        }

        String output() throws IOException {
            return Files.readString(log);
        }
    }

    static Submitted submit(String name, List<String> conf, String... appArgs) throws IOException {
        Path events = Files.createDirectories(dir.resolve("events-" + name));
        List<String> args = SparkDistribution.jobArgs(cluster.masterUrl(), "client", name, conf, events,
                List.of(appArgs));
        Path log = dir.resolve("submit-" + name + ".log");
        return new Submitted(name, cluster.spark.submit(args, log, dir), log);
    }

    @Test
    void twoRanksOnTwoWorkersFollowTheOneProcessRunAndRefuseAStranger() throws Exception {
        Path work = dir.resolve("work-two");
        Path out = dir.resolve("two");
        // Each executor holds one (fake) GPU, and each task asks for it: the ranks read their addresses from Spark.
        Submitted s = submit("two", List.of("spark.executor.resource.gpu.amount=1", "spark.task.resource.gpu.amount=1"),
                "--work-dir", work.toString(), "train", spec.toString(), "--out", out.toString());
        ProgressEvent.Ranks ranks = (ProgressEvent.Ranks) s.await(e -> e instanceof ProgressEvent.Ranks, "the ranks");
        assertEquals(2, ranks.ranks());
        assertEquals(0, ranks.attempt());
        // The application the workbench shows: its id, master, web UI and both executors.
        ProgressEvent.Cluster app = (ProgressEvent.Cluster) s.await(e -> e instanceof ProgressEvent.Cluster c
                && c.executors() == 2, "the application with its 2 executors");
        assertTrue(app.application().startsWith("app-"), app.toString());
        assertEquals(cluster.masterUrl(), app.master());
        assertTrue(app.ui() != null && app.ui().startsWith("http://"), app.toString());
        // A stranger at each rank's port, mid-run: the ring is formed, so the port is closed; were it open, the
        // stranger could not answer the challenge. Either way the run goes on unaffected.
        for (String address : ranks.addresses()) {
            String[] hp = address.split(":");
            try (Socket stranger = new Socket()) {
                stranger.connect(new InetSocketAddress(hp[0], Integer.parseInt(hp[1])), 2000);
                OutputStream o = stranger.getOutputStream();
                o.write(new byte[128]);
                o.flush();
                assertEquals(-1, stranger.getInputStream().read(), "a stranger at " + address + " is closed on");
            } catch (java.net.ConnectException refused) {
                // refused by the operating system: nobody listens there any more
            }
        }
        assertEquals(0, s.exit(), s.output());
        String log = s.output();
        assertTrue(log.contains("rank 0: Spark gave this task GPU 0") || log.contains("rank 0: Spark gave this task GPU 1"),
                "rank 0 read its GPU address from Spark and said it trains on the CPU:\n" + log);
        assertTrue(log.contains("but this job jar's ND4J backend is the CPU one"), log);

        TrainKillResumeIT.assertSameCurve(TrainKillResumeIT.lossCurve(workOne), TrainKillResumeIT.lossCurve(work), 1e-5,
                "2 ranks against 1 process");
        assertSameWeights(dir.resolve("one").resolve("model.ckpt"), out.resolve("model.ckpt"));

        LocalRunStore store = new LocalRunStore(work.resolve("runs"));
        LocalRunStore.Meta run = store.list().get(0);
        assertEquals("FINISHED", run.status());
        Map<String, String> params = store.params(run);
        assertEquals("2", params.get("distributed.ranks"));
        assertEquals(cluster.masterUrl(), params.get("distributed.master"));
        assertEquals("2", store.tags(run).get("distillery.ranks"));

        SparkSubmitIT.EventLog events = SparkSubmitIT.EventLog.read(eventFiles("two"));
        assertEquals(2, events.executorHosts().size(), "an executor on each worker: " + events.executorHosts());
        assertTrue(events.tasksByExecutor().keySet().size() == 2, "tasks on both executors: " + events.tasksByExecutor());
    }

    /**
     * One rank's executor killed (SIGKILL) after the step-8 checkpoint: the barrier stage fails, Spark runs it again
     * on a new executor, every rank resumes from the newest checkpoint, and the curve (later lines win for the steps
     * the failed attempt had logged past its checkpoint) and the weights equal the one-process run's.
     */
    @Test
    void aKilledExecutorsStageIsRetriedAndResumesOntoTheSameCurve() throws Exception {
        Path work = dir.resolve("work-kill");
        Path out = dir.resolve("kill");
        Submitted s = submit("kill", List.of(), "--work-dir", work.toString(), "train", spec.toString(), "--out",
                out.toString());
        s.await(e -> e instanceof ProgressEvent.Progress p && "train".equals(p.stage()) && p.done() >= 10,
                "step 10");
        List<ProcessHandle> executors = cluster.executors();
        assertEquals(2, executors.size(), "one executor per worker");
        executors.get(new java.util.Random().nextInt(2)).destroyForcibly();
        s.await(e -> e instanceof ProgressEvent.Ranks r && r.attempt() == 1, "the stage's second attempt");
        assertEquals(0, s.exit(), s.output());
        TrainKillResumeIT.assertSameCurve(TrainKillResumeIT.lossCurve(workOne), TrainKillResumeIT.lossCurve(work), 1e-5,
                "2 ranks, one executor killed at step 10 or later");
        assertSameWeights(dir.resolve("one").resolve("model.ckpt"), out.resolve("model.ckpt"));
        LocalRunStore store = new LocalRunStore(work.resolve("runs"));
        LocalRunStore.Meta run = store.list().get(0);
        assertEquals("FINISHED", run.status());
        String from = store.tags(run).get("distillery.resumed_from_step");
        assertTrue(from != null && Integer.parseInt(from) >= 8 && Integer.parseInt(from) % 4 == 0,
                "the second attempt resumed from a checkpoint at step 8 or later: " + from);
        System.out.println("kill: the stage's second attempt resumed from step " + from + "; ranks events "
                + s.events().stream().filter(e -> e instanceof ProgressEvent.Ranks).toList());
    }

    /**
     * distill over 2 ranks, with a live teacher (every rank runs its own) and with offline teacher logits (every rank
     * reads them), against the same spec in one process: the same curve and student weights.
     */
    @Test
    void distillOverTwoRanksWithALiveTeacherAndWithOfflineLogitsFollowsTheOneProcessRun() throws Exception {
        Path teacher = dir.resolve("one").resolve("model.ckpt");
        Path logitsSpec = dir.resolve("logits.yaml");
        Files.writeString(logitsSpec, """
                name: logits
                teacher: %s
                data: {path: %s}
                top_k: 16
                temperature: 2.0
                window: 32
                batch_size: 4
                """.formatted(teacher, dir.resolve("prep")));
        Path logits = dir.resolve("logits");
        CliRun scored = CliRun.of("--work-dir", dir.resolve("work-logits").toString(), "--progress=none",
                "teacher-logits", logitsSpec.toString(), "--master", "local[2]", "--out", logits.toString());
        assertEquals(0, scored.code(), scored.err());
        for (String variant : List.of("live", "offline")) {
            Path spec = dir.resolve("student-" + variant + ".yaml");
            Files.writeString(spec, """
                    name: student-%s
                    teacher: %s
                    data: {path: %s}
                    student: {n_layer: 1}
                    distillation: {temperature: 2.0, kd_ratio: 0.7%s}
                    optimizer: {lr: 0.01, warmup_steps: 5}
                    training: {steps: 16, batch_size: 4, grad_accum: 4, log_every: 1}
                    eval: {every: 8, batches: 2}
                    checkpoints: {every: 4, keep: 2}
                    distributed: {ranks: 2, check_every: 4, timeout_s: 60}
                    seed: 5
                    """.formatted(variant, teacher, dir.resolve("prep"),
                    variant.equals("offline") ? ", teacher_logits: " + logits : ""));
            Path workOne = dir.resolve("work-" + variant + "-one");
            Submitted one = submit("distill-" + variant + "-one", List.of(), "--work-dir", workOne.toString(),
                    "distill", spec.toString(), "--ranks", "1", "--out", dir.resolve(variant + "-one").toString());
            assertEquals(0, one.exit(), one.output());
            Path work = dir.resolve("work-" + variant + "-two");
            Submitted s = submit("distill-" + variant, List.of(), "--work-dir", work.toString(), "distill",
                    spec.toString(), "--out", dir.resolve(variant + "-two").toString());
            assertEquals(0, s.exit(), s.output());
            assertTrue(s.output().contains("teacher        val loss"), "the summary gives the teacher's loss");
            TrainKillResumeIT.assertSameCurve(TrainKillResumeIT.lossCurve(workOne), TrainKillResumeIT.lossCurve(work),
                    1e-5, "distill with a " + variant + " teacher, 2 ranks against 1 process");
            assertSameWeights(dir.resolve(variant + "-one").resolve("model.ckpt"),
                    dir.resolve(variant + "-two").resolve("model.ckpt"));
        }
    }

    @Test
    void moreRanksThanTaskSlotsFailsInBoundedTimeNamingTheMaster() throws Exception {
        long t0 = System.nanoTime();
        Submitted s = submit("three", List.of(), "--work-dir", dir.resolve("work-three").toString(), "train",
                spec.toString(), "--ranks", "3", "--out", dir.resolve("three").toString());
        int exit = s.exit();
        String log = s.output();
        assertEquals(2, exit, log);
        assertTrue(log.contains("error: distributed.ranks 3 needs 3 task slots at once, but " + cluster.masterUrl()
                + " has fewer"), log);
        assertTrue((System.nanoTime() - t0) / 1e9 < 180, "failed fast");
        assertTrue(!Files.exists(dir.resolve("three").resolve("model.ckpt")), "no model");
    }

    private static List<Path> eventFiles(String name) throws IOException {
        try (var s = Files.walk(dir.resolve("events-" + name))) {
            return s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith("appstatus_"))
                    .filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        }
    }

    /**
     * Every weight the same bits: the exact gradient sum (distributed.sum's default) adds micro-batches as integers,
     * so how they are spread over ranks, and over processes with the same libraries, changes nothing.
     */
    static void assertSameWeights(Path want, Path got) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                Checkpoint.read(want).section(Checkpoint.PARAMS).toFloatVector(),
                Checkpoint.read(got).section(Checkpoint.PARAMS).toFloatVector(), "the weights, bit for bit");
    }
}
