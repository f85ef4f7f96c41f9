package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.export.ExportFolder;
import org.distillery.export.GgufFile;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;
import org.distillery.model.TinyPrep;
import org.distillery.model.TinyTeacher;
import org.distillery.tracking.MlflowServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mlflow.api.proto.Service;
import org.mlflow.tracking.MlflowClient;

/**
 * Issue 35, outputs that survive failures. Every job kind runs once uninterrupted (the reference), then
 * {@code chaos.kills} times (default 2, see {@link #KILLS}; the issue asks for 10) as a separate JVM that is SIGKILLed, with every process it started,
 * at a seeded random point, then resumed ({@code --resume}) or run again. After each kill: every file under a
 * final name reads with our own readers (checkpoints, shards and their manifests, exports), and the local run
 * store lists and reads every run. After each resume or rerun: the output equals the reference's (checkpoint
 * sections bit for bit, shards and export files byte for byte, manifests but for their creation time; for
 * {@code runs sync}, the MLflow server holds each local run exactly once with exactly its metrics and params).
 *
 * <p>A kill point is (k, d): wait for the job's k-th event (a JSON progress line on stderr or a result line on
 * stdout; k = 0 is the process start), then d ms, d drawn below the gap that followed event k in the reference
 * run, so kills fall inside the work in proportion to its time. The seed is printed first; {@code
 * -Dchaos.seed=N} replays every point, {@code -Dchaos.kinds=train,export} runs only those kinds (each kind draws
 * from its own stream, so its points do not depend on which others run). Losses are counted, not thrown at once:
 * the test ends with a summary line per kind and in total, writes them to {@code target/chaos.json}, and fails if
 * any kill lost anything.
 *
 * <p>CI runs 2 kills a kind with a fresh seed each time (about 6 minutes on 2 cores), so the points covered grow
 * run by run; {@code -Dchaos.kills=10} is the issue's full count (31 minutes), {@code -Dchaos.kills=0} skips it.
 */
@org.junit.jupiter.api.condition.DisabledIfSystemProperty(named = "chaos.kills", matches = "0")
class ChaosIT {
    private static final List<String> ALL = List.of("prep", "teacher-logits", "train", "distill", "train-ranks",
            "export", "runs-sync");
    /** A kill and its rerun cost 10-45 s a kind on 2 cores, so 10 a kind take about 33 minutes. */
    private static final int KILLS = Integer.getInteger("chaos.kills", 2);
    private static final long SEED = Long.getLong("chaos.seed", System.nanoTime());
    private static final String SCHEMA = "{\"schema\":\"distillery.progress/1\"";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    private static MlflowServer mlflow;

    @AfterAll
    static void stopServer() throws InterruptedException {
        if (mlflow != null) {
            mlflow.close();
        }
    }

    @Test
    void everyJobKilledAtRandomPointsLeavesWholeFilesAndEndsAsAnUninterruptedRun() throws Exception {
        List<String> kinds = List.of(System.getProperty("chaos.kinds", String.join(",", ALL)).split(","));
        System.out.println("chaos: seed " + SEED + " (replay with -Dchaos.seed=" + SEED + "), " + KILLS
                + " kills per job kind: " + kinds);
        Fixtures fx = new Fixtures(tmp.resolve("fixtures"));
        Map<String, Tally> tallies = new LinkedHashMap<>();
        long started = System.nanoTime();
        for (String name : kinds) {
            tallies.put(name, chaos(job(name, fx)));
        }
        double seconds = (System.nanoTime() - started) / 1e9;

        Tally total = new Tally();
        ObjectNode json = JSON.createObjectNode().put("seed", SEED).put("kills_per_kind", KILLS);
        ObjectNode perKind = json.putObject("kinds");
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, Tally> e : tallies.entrySet()) {
            Tally t = e.getValue();
            System.out.println("chaos: " + e.getKey() + ": " + t.line());
            perKind.set(e.getKey(), t.json());
            total.add(t);
            failures.addAll(t.failures);
        }
        System.out.printf(Locale.ROOT, "chaos: %d kills, %d losses (%d after the job had ended) in %.0f s%n",
                total.kills, total.losses, total.afterEnd, seconds);
        json.set("total", total.json());
        json.put("seconds", Math.round(seconds));
        Files.createDirectories(Path.of("target"));
        JSON.writerWithDefaultPrettyPrinter().writeValue(Path.of("target", "chaos.json").toFile(), json);
        assertEquals(List.of(), failures, "seed " + SEED);
    }

    /** One reference run of {@code job}, then its kills, each followed by its resume or rerun. */
    private static Tally chaos(Job job) throws Exception {
        Tally tally = new Tally();
        long t0 = System.nanoTime();
        Path ref = tmp.resolve(job.name + "/reference");
        job.prepare(ref);
        Run reference = Run.start(ref, job.args(ref));
        reference.waitForEnd();
        if (reference.exitCode() != 0) {
            throw new AssertionError(job.name + ": the uninterrupted run failed (exit " + reference.exitCode() + "): "
                    + reference.err);
        }
        job.checkWhole(ref);
        checkRunStore(ref);
        List<Long> timeline = reference.timeline(); // 0, event 1, ..., event n, end (ms)
        System.out.printf(Locale.ROOT, "chaos: %s reference: %d events, the first at %.1f s, the end at %.1f s%n",
                job.name, timeline.size() - 2, timeline.size() > 2 ? timeline.get(1) / 1e3 : 0.0,
                timeline.get(timeline.size() - 1) / 1e3);
        SplittableRandom random = new SplittableRandom(SEED ^ job.name.hashCode());
        for (int i = 1; i <= KILLS; i++) {
            int event = random.nextInt(timeline.size() - 1);
            long gap = Math.max(1, timeline.get(event + 1) - timeline.get(event));
            long delay = random.nextLong(gap);
            String point = job.name + " kill " + i + "/" + KILLS + " at event " + event + " + " + delay + " ms";
            Path dir = tmp.resolve(job.name + "/kill-" + i);
            job.prepare(dir);
            Run victim = Run.start(dir, job.args(dir));
            boolean ended = victim.killAt(event, delay);
            tally.kills++;
            List<String> lost = new ArrayList<>();
            if (ended) {
                tally.afterEnd++;
                if (victim.exitCode() != 0) {
                    lost.add("the job failed by itself (exit " + victim.exitCode() + "): " + victim.err);
                }
            }
            System.out.println("chaos: " + point + (ended ? " (the job had already ended)" : ""));
            check(lost, "after the kill", () -> job.checkWhole(dir));
            check(lost, "after the kill", () -> checkRunStore(dir));
            List<String> again = job.rerunArgs(dir);
            if (again != null) {
                Run rerun = Run.start(dir, again);
                rerun.waitForEnd();
                if (rerun.exitCode() != 0) {
                    lost.add("the resume or rerun failed (exit " + rerun.exitCode() + "): " + rerun.err);
                }
            }
            check(lost, "after the rerun", () -> job.checkWhole(dir));
            check(lost, "after the rerun", () -> checkRunStore(dir));
            check(lost, "against the uninterrupted run", () -> job.checkSame(dir, ref));
            if (!lost.isEmpty()) {
                tally.losses++;
                for (String l : lost) {
                    String failure = "seed " + SEED + ", " + point + ": " + l;
                    System.out.println("chaos: LOSS " + failure);
                    tally.failures.add(failure);
                }
            }
        }
        tally.seconds = (System.nanoTime() - t0) / 1e9;
        return tally;
    }

    @FunctionalInterface
    private interface Check {
        void run() throws Exception;
    }

    private static void check(List<String> lost, String when, Check c) {
        try {
            c.run();
        } catch (Exception | AssertionError e) {
            lost.add(when + ": " + e);
        }
    }

    /** (3): the run store of the run's work dir lists, and reads every run's parts. */
    private static void checkRunStore(Path dir) {
        LocalRunStore store = new LocalRunStore(dir.resolve("work/runs"));
        for (LocalRunStore.Meta m : store.list()) {
            store.params(m);
            store.tags(m);
            store.metrics(m);
            for (String a : store.loggedArtifacts(m)) {
                if (!Files.isRegularFile(store.artifactsDir(m).resolve(a))) {
                    throw new AssertionError(store.runDir(m) + ": artifact " + a + " is in the journal, not on disk");
                }
            }
        }
    }

    /** What a kill point counts, per job kind. */
    private static final class Tally {
        int kills;
        int afterEnd;
        int losses;
        double seconds;
        final List<String> failures = new ArrayList<>();

        void add(Tally t) {
            kills += t.kills;
            afterEnd += t.afterEnd;
            losses += t.losses;
            seconds += t.seconds;
        }

        String line() {
            return String.format(Locale.ROOT, "%d kills, %d losses (%d after the job had ended) in %.0f s", kills,
                    losses, afterEnd, seconds);
        }

        ObjectNode json() {
            return JSON.createObjectNode().put("kills", kills).put("losses", losses).put("after_end", afterEnd)
                    .put("seconds", Math.round(seconds));
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The processes

    /** A distillery JVM, its events timed as they arrive. */
    private static final class Run {
        final Process process;
        final long started = System.nanoTime();
        final List<Long> events = new ArrayList<>(); // ms since start, one per event line
        final StringBuilder err = new StringBuilder();
        private final Thread[] readers;

        private Run(Process process) {
            this.process = process;
            this.readers = new Thread[] {reader(process.getInputStream(), false), reader(process.getErrorStream(), true)};
        }

        static Run start(Path dir, List<String> args) throws IOException {
            List<String> cmd = TrainKillResumeIT.command(dir.resolve("work"));
            cmd.add("--progress=json");
            cmd.addAll(args);
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
            pb.environment().put("OMP_WAIT_POLICY", "PASSIVE");
            pb.environment().putIfAbsent("SPARK_LOCAL_IP", "127.0.0.1");
            pb.environment().remove("MLFLOW_TRACKING_URI");
            return new Run(pb.start());
        }

        private Thread reader(InputStream in, boolean stderr) {
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        boolean event = stderr ? line.startsWith(SCHEMA) : !line.isBlank();
                        synchronized (this) {
                            if (event) {
                                events.add((System.nanoTime() - started) / 1_000_000);
                                notifyAll();
                            } else if (stderr && !line.startsWith("WARNING") && err.length() < 20_000) {
                                err.append(line).append('\n'); // Spark's log lines and errors: kept for the report
                            }
                        }
                    }
                } catch (IOException e) {
                    // the process was killed: its pipes close
                }
            }, "chaos-" + (stderr ? "stderr" : "stdout"));
            t.setDaemon(true);
            t.start();
            return t;
        }

        void waitForEnd() throws InterruptedException {
            if (!process.waitFor(10, TimeUnit.MINUTES)) {
                kill();
                throw new AssertionError("a job did not end in 10 minutes: " + process.info().commandLine().orElse(""));
            }
            for (Thread t : readers) {
                t.join(10_000);
            }
        }

        int exitCode() {
            return process.exitValue();
        }

        /** The reference's timeline in ms: 0, each event, the end. */
        synchronized List<Long> timeline() {
            List<Long> t = new ArrayList<>();
            t.add(0L);
            t.addAll(events);
            t.add((System.nanoTime() - started) / 1_000_000);
            return t;
        }

        /** SIGKILLs the process tree {@code delay} ms after the {@code event}-th event; true if it had ended first. */
        boolean killAt(int event, long delay) throws InterruptedException {
            synchronized (this) {
                while (events.size() < event && process.isAlive()) {
                    wait(50);
                }
            }
            if (delay > 0) {
                process.waitFor(delay, TimeUnit.MILLISECONDS);
            }
            boolean ended = !process.isAlive();
            if (!ended) {
                kill();
            }
            waitForEnd();
            return ended;
        }

        private void kill() throws InterruptedException {
            List<ProcessHandle> children = process.descendants().toList(); // before they lose their parent
            process.destroyForcibly(); // SIGKILL: no shutdown hook, no finally
            children.forEach(ProcessHandle::destroyForcibly);
            process.waitFor(60, TimeUnit.SECONDS);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The job kinds

    /** A job kind: its command line in a run folder (work dir {@code work/}, output {@code out/}) and its checks. */
    private abstract static class Job {
        final String name;

        Job(String name) {
            this.name = name;
        }

        void prepare(Path dir) throws Exception {
            Files.createDirectories(dir.resolve("work"));
        }

        abstract List<String> args(Path dir);

        /** The command that finishes a killed run's work; null when the output was already complete. */
        abstract List<String> rerunArgs(Path dir);

        /** (1): every file under a final name reads. */
        abstract void checkWhole(Path dir) throws Exception;

        /** (2): the output equals the uninterrupted run's. */
        abstract void checkSame(Path dir, Path ref) throws Exception;
    }

    /** A job of a spec whose output, {@code out}, is published whole or not at all: run again unless it was. */
    private abstract static class PublishedWhole extends Job {
        final Path spec;

        PublishedWhole(String command, Path spec) {
            super(command);
            this.spec = spec;
        }

        @Override
        List<String> args(Path dir) {
            return List.of(name, spec.toString(), "--out", dir.resolve("out").toString());
        }

        @Override
        List<String> rerunArgs(Path dir) {
            return Files.exists(dir.resolve("out")) ? null : args(dir);
        }
    }

    private static Job job(String name, Fixtures fx) throws Exception {
        return switch (name) {
            case "prep" -> new Prep(fx);
            case "teacher-logits" -> new Logits(fx);
            case "train" -> new Training(name, List.of("train", fx.trainSpec().toString()));
            case "distill" -> new Training(name, List.of("distill", fx.distillSpec().toString()));
            case "train-ranks" -> new Training(name, List.of("train", fx.ranksSpec().toString(), "--ranks", "2",
                    "--master", "local[2]"));
            case "export" -> new Export(fx);
            case "runs-sync" -> new Sync();
            default -> throw new IllegalArgumentException("chaos.kinds: no job kind " + name + "; one of " + ALL);
        };
    }

    /** train, distill, train over ranks: resumed with --resume; every checkpoint reads, and equals the reference's. */
    private static final class Training extends Job {
        final List<String> args;

        Training(String name, List<String> args) {
            super(name);
            this.args = args;
        }

        @Override
        List<String> args(Path dir) {
            List<String> a = new ArrayList<>(args);
            a.addAll(List.of("--out", dir.resolve("out").toString()));
            return a;
        }

        @Override
        List<String> rerunArgs(Path dir) {
            List<String> a = args(dir);
            a.add("--resume");
            return a;
        }

        @Override
        void checkWhole(Path dir) throws IOException {
            for (Path f : finalFiles(dir.resolve("out"))) {
                if (!f.getFileName().toString().endsWith(".ckpt")) {
                    throw new AssertionError("stray file " + f);
                }
                Checkpoint.read(f);
            }
        }

        @Override
        void checkSame(Path dir, Path ref) throws IOException {
            List<String> want = relative(ref.resolve("out"));
            assertEquals(want, relative(dir.resolve("out")), "the files of " + dir.resolve("out"));
            for (String f : want) {
                sameSections(ref.resolve("out").resolve(f), dir.resolve("out").resolve(f));
            }
            // The tracked run holds each point of the curve once, as the uninterrupted run's does.
            assertEquals(curve(ref), curve(dir), "the metrics of the tracked run in " + dir.resolve("work/runs")
                    + " (key@step: count, value for losses)");
        }

        /** The model's tracked run's metrics: key@step, how often, and the value of the losses (deterministic). */
        private static Map<String, String> curve(Path dir) {
            String runId = Checkpoint.readHeader(dir.resolve("out/model.ckpt")).runId();
            LocalRunStore store = new LocalRunStore(dir.resolve("work/runs"));
            Map<String, String> points = new TreeMap<>();
            for (LocalRunStore.Metric m : store.metrics(store.find(runId))) {
                boolean loss = m.key().equals("train/loss") || m.key().equals("val/loss");
                points.merge(m.key() + "@" + m.step(), (loss ? m.value() + " " : "") + "x1", (a, b) -> a + ", " + b);
            }
            return points;
        }

        private static void sameSections(Path want, Path got) {
            Checkpoint a = Checkpoint.read(want);
            Checkpoint b = Checkpoint.read(got);
            assertEquals(a.header().step(), b.header().step(), got + ": step");
            assertEquals(a.sections().keySet(), b.sections().keySet(), got + ": sections");
            for (String s : a.sections().keySet()) {
                if (!Arrays.equals(a.section(s).data().asFloat(), b.section(s).data().asFloat())) {
                    throw new AssertionError(got + ": section " + s + " differs from the uninterrupted run's " + want);
                }
            }
        }
    }

    /** prep: rerun unless the output is complete; shards verify, and equal the reference's byte for byte. */
    private static final class Prep extends PublishedWhole {
        Prep(Fixtures fx) throws IOException {
            super("prep", fx.prepSpec());
        }

        @Override
        void checkWhole(Path dir) throws IOException {
            Path out = dir.resolve("out");
            if (!Files.exists(out)) {
                return; // staging folders are hidden: no final name yet
            }
            CliRun verify = CliRun.of("--progress=none", "shards", "verify", out.toString());
            if (verify.code() != 0) {
                throw new AssertionError("distillery shards verify " + out + ": exit " + verify.code() + ": " + verify.out()
                        + verify.err());
            }
            ShardManifest m = ShardManifest.read(out);
            List<String> named = new ArrayList<>(List.of(ShardManifest.FILE_NAME, m.tokenizer().file()));
            m.splits().values().forEach(s -> s.shards().forEach(sh -> named.add(sh.file())));
            for (String f : relative(out)) {
                if (!named.contains(f)) {
                    throw new AssertionError("stray file " + out.resolve(f) + ", not in its manifest");
                }
            }
        }

        @Override
        void checkSame(Path dir, Path ref) throws IOException {
            sameFiles(ref.resolve("out"), dir.resolve("out"), ShardManifest.FILE_NAME);
            sameManifest(ref.resolve("out").resolve(ShardManifest.FILE_NAME), dir.resolve("out").resolve(ShardManifest.FILE_NAME));
        }
    }

    /** teacher-logits: rerun (which reuses the staged shards); shards verify and equal the reference's. */
    private static final class Logits extends PublishedWhole {
        Logits(Fixtures fx) throws IOException {
            super("teacher-logits", fx.logitsSpec());
        }

        @Override
        void checkWhole(Path dir) throws IOException {
            Path out = dir.resolve("out");
            // The staging folder's shards under their final names are what a rerun trusts: each must read whole.
            Path staging = dir.resolve(".out.partial");
            if (Files.isDirectory(staging)) {
                for (Path f : finalFiles(staging)) {
                    if (f.getFileName().toString().endsWith(".tlogits")) {
                        try (TeacherLogits.Reader r = new TeacherLogits.Reader(f)) {
                            r.header();
                        }
                    }
                }
            }
            if (!Files.exists(out)) {
                return;
            }
            TeacherLogitsManifest m = TeacherLogitsManifest.read(out);
            m.verify(out);
            List<String> named = new ArrayList<>(List.of(TeacherLogitsManifest.FILE_NAME));
            m.shards().forEach(s -> named.add(s.file()));
            for (String f : relative(out)) {
                if (!named.contains(f)) {
                    throw new AssertionError("stray file " + out.resolve(f) + ", not in its manifest");
                }
            }
        }

        @Override
        void checkSame(Path dir, Path ref) throws IOException {
            sameFiles(ref.resolve("out"), dir.resolve("out"), TeacherLogitsManifest.FILE_NAME);
            sameManifest(ref.resolve("out").resolve(TeacherLogitsManifest.FILE_NAME),
                    dir.resolve("out").resolve(TeacherLogitsManifest.FILE_NAME));
        }
    }

    /**
     * export to hf, onnx and gguf at once, logged to the checkpoint's run: rerun (with --overwrite when a format
     * folder was already published); each format folder present loads with our readers; the files equal the
     * reference's byte for byte.
     */
    private static final class Export extends Job {
        final Fixtures fx;

        Export(Fixtures fx) {
            super("export");
            this.fx = fx;
        }

        @Override
        void prepare(Path dir) throws Exception {
            super.prepare(dir);
            fx.exportRunStore(dir.resolve("work/runs"));
        }

        @Override
        List<String> args(Path dir) {
            return List.of("export", fx.exportCheckpoint().toString(), "--format", "hf,onnx,gguf", "--out",
                    dir.resolve("out").toString());
        }

        @Override
        List<String> rerunArgs(Path dir) {
            List<String> a = new ArrayList<>(args(dir));
            if (Files.exists(dir.resolve("out"))) {
                a.add("--overwrite"); // a format folder published before the kill: the user replaces the export
            }
            return a;
        }

        @Override
        void checkWhole(Path dir) throws IOException {
            Path out = dir.resolve("out");
            if (!Files.exists(out)) {
                return;
            }
            for (String f : relative(out)) {
                String format = f.substring(0, f.indexOf('/') < 0 ? f.length() : f.indexOf('/'));
                if (!List.of("hf", "onnx", "gguf").contains(format)) {
                    throw new AssertionError("stray file " + out.resolve(f));
                }
            }
            ExportFolder folder = ExportFolder.at(out);
            if (folder == null) {
                return;
            }
            for (ExportFolder.Part p : folder.parts()) {
                if (p.problem() != null) {
                    throw new AssertionError(p.dir() + ": " + p.problem());
                }
                switch (p.format()) {
                    case HF -> HfImporter.read(p.dir(), "test");
                    case GGUF -> GgufFile.open(p.file());
                    default -> {
                        try (InputStream in = Files.newInputStream(p.file())) {
                            ai.onnx.proto.OnnxMl.ModelProto.parseFrom(in);
                        }
                    }
                }
            }
        }

        @Override
        void checkSame(Path dir, Path ref) throws IOException {
            sameFiles(ref.resolve("out"), dir.resolve("out"), null);
        }
    }

    /**
     * runs sync of a store of ten runs (one large, nine nested under it); the server must hold each local run once,
     * with exactly its params, metrics and artifacts.
     */
    private static final class Sync extends Job {
        private static final int RUNS = 10;

        Sync() throws Exception {
            super("runs-sync");
            if (mlflow == null) {
                mlflow = new MlflowServer(Files.createDirectories(tmp.resolve("mlflow"))).start();
                try (MlflowClient client = new MlflowClient(mlflow.uri())) {
                    // The server's first requests load its modules (seconds): not in the reference's timeline.
                    String run = client.createRun(client.createExperiment("chaos-warm-up")).getRunId();
                    client.logMetric(run, "m", 1.0);
                }
            }
        }

        @Override
        void prepare(Path dir) throws Exception {
            super.prepare(dir);
            LocalRunStore store = new LocalRunStore(dir.resolve("work/runs"));
            String experiment = "chaos-" + dir.getParent().getFileName() + "-" + dir.getFileName();
            String parent = null;
            for (int r = 0; r < RUNS; r++) {
                // The first run is large (params in two batches, metrics in three, artifacts), the others small
                // and nested under it, so that much of the sync's time goes to making runs on the server.
                boolean large = r == 0;
                LocalRunStore.Meta m = store.create(experiment, "run-" + r, parent);
                parent = parent == null ? m.runId() : parent;
                Map<String, String> params = new TreeMap<>();
                for (int i = 0; i < (large ? 120 : 5); i++) {
                    params.put(String.format(Locale.ROOT, "p%03d", i), "value " + i);
                }
                store.putParams(m, params);
                store.putTags(m, Map.of("distillery.kind", "chaos", "run", String.valueOf(r)));
                List<LocalRunStore.Metric> metrics = new ArrayList<>();
                for (int s = 0; s < (large ? 550 : 10); s++) {
                    metrics.add(new LocalRunStore.Metric("train/loss", 5.0 / (1 + s) + r, s, 1_700_000_000_000L + s));
                    metrics.add(new LocalRunStore.Metric("val/loss", 6.0 / (1 + s) + r, s, 1_700_000_000_000L + s));
                }
                store.appendMetrics(m, metrics);
                for (int a = 0; a < (large ? 3 : 0); a++) {
                    Path f = Files.writeString(dir.resolve("artifact-" + a + ".txt"), "artifact " + a + " of run " + r);
                    store.copyArtifact(m, f, "files");
                }
                store.update(m, x -> x.withStatus("FINISHED", x.startTime() + 1000));
            }
        }

        @Override
        List<String> args(Path dir) {
            return List.of("runs", "sync", "--to", mlflow.uri());
        }

        @Override
        List<String> rerunArgs(Path dir) {
            return args(dir);
        }

        @Override
        void checkWhole(Path dir) {
            // the run store is the only file this job writes; checkRunStore reads it
        }

        @Override
        void checkSame(Path dir, Path ref) throws Exception {
            LocalRunStore store = new LocalRunStore(dir.resolve("work/runs"));
            List<LocalRunStore.Meta> local = store.list();
            assertEquals(RUNS, local.size(), "runs in " + store.root());
            try (MlflowClient client = new MlflowClient(mlflow.uri())) {
                String experiment = client.getExperimentByName(local.get(0).experiment()).orElseThrow()
                        .getExperimentId();
                List<Service.RunInfo> all = client.listRunInfos(experiment);
                assertEquals(RUNS, all.size(), "runs on the server in experiment " + local.get(0).experiment()
                        + ": one per local run, none twice: " + all.stream().map(Service.RunInfo::getRunId).toList());
                for (LocalRunStore.Meta m : local) {
                    List<Service.RunInfo> found = client.searchRuns(List.of(experiment),
                            "tags.`distillery.local_run_id` = '" + m.runId() + "'");
                    assertEquals(1, found.size(), "server runs of local run " + m.runId());
                    Service.Run run = client.getRun(found.get(0).getRunId());
                    assertEquals(run.getInfo().getRunId(), m.mlflowRunId(), store.runDir(m) + ": the synced run's id");
                    assertEquals(m.status(), run.getInfo().getStatus().name(), "status of " + m.runId());
                    Map<String, String> params = new TreeMap<>();
                    run.getData().getParamsList().forEach(p -> params.put(p.getKey(), p.getValue()));
                    assertEquals(store.params(m), params, "params of " + m.runId());
                    Map<String, List<String>> want = new TreeMap<>();
                    for (LocalRunStore.Metric x : store.metrics(m)) {
                        want.computeIfAbsent(x.key(), k -> new ArrayList<>())
                                .add(x.step() + "@" + x.timestamp() + "=" + x.value());
                    }
                    for (Map.Entry<String, List<String>> e : want.entrySet()) {
                        List<String> got = new ArrayList<>();
                        for (Service.Metric x : client.getMetricHistory(run.getInfo().getRunId(), e.getKey())) {
                            got.add(x.getStep() + "@" + x.getTimestamp() + "=" + x.getValue());
                        }
                        got.sort(null);
                        List<String> w = new ArrayList<>(e.getValue());
                        w.sort(null);
                        assertEquals(w, got, "metric " + e.getKey() + " of " + m.runId() + " on the server");
                    }
                    List<String> artifacts = new ArrayList<>(); // by REST: the client lists through Python
                    if (!store.artifacts(m).isEmpty()) {
                        mlflow.get("/api/2.0/mlflow/artifacts/list", "run_id", run.getInfo().getRunId(), "path", "files")
                                .path("files").forEach(f -> artifacts.add(f.path("path").asText()));
                    }
                    artifacts.sort(null);
                    assertEquals(store.artifacts(m), artifacts, "artifacts of " + m.runId() + " on the server");
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Fixtures and comparisons

    /** Inputs shared by the job kinds, made once in this JVM. */
    private static final class Fixtures {
        final Path dir;
        private Path prep;
        private Path teacher;
        private Path exportCheckpoint;
        private Path exportRuns;

        Fixtures(Path dir) throws IOException {
            this.dir = Files.createDirectories(dir);
        }

        Path tinyPrep() throws IOException {
            if (prep == null) {
                prep = TinyPrep.write(dir.resolve("tiny-prep"), 200, false);
            }
            return prep;
        }

        Path teacher() throws IOException {
            if (teacher == null) {
                teacher = dir.resolve("teacher.ckpt");
                TinyTeacher.random(tinyPrep(), 2, 2, 32, 32, 3).write(teacher);
            }
            return teacher;
        }

        Path prepSpec() throws IOException {
            return SamplePrepSpec.write(dir.resolve("prep.yaml"), "master: local[2]\npartitions: 2");
        }

        Path logitsSpec() throws IOException {
            Path spec = dir.resolve("teacher-logits.yaml");
            Files.writeString(spec, """
                    name: chaos-logits
                    teacher: %s
                    data: {path: %s}
                    top_k: 8
                    temperature: 2.0
                    batch_size: 8
                    spark: {master: 'local[2]', partitions: 4}
                    """.formatted(teacher(), tinyPrep()));
            return spec;
        }

        /**
         * Dropout and a checkpoint every 15 steps (2 kept): what a resume must restore. 15 steps log more metrics
         * than the run store's batch, so some reach its journal between checkpoints.
         */
        Path trainSpec() throws IOException {
            return train("chaos-train", "batch_size: 8");
        }

        /** Four micro-batches a step over two ranks: the exact sum makes the weights independent of the split. */
        Path ranksSpec() throws IOException {
            return train("chaos-ranks", "batch_size: 2, grad_accum: 4");
        }

        private Path train(String name, String batch) throws IOException {
            Path spec = dir.resolve(name + ".yaml");
            Files.writeString(spec, """
                    name: %s
                    data:
                      path: %s
                    model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, dropout: 0.1}
                    optimizer: {lr: 0.01, warmup_steps: 5}
                    training: {steps: 45, %s, log_every: 1}
                    eval: {every: 15, batches: 2}
                    checkpoints: {every: 15, keep: 2}
                    seed: 11
                    """.formatted(name, tinyPrep(), batch));
            return spec;
        }

        Path distillSpec() throws IOException {
            Path spec = dir.resolve("chaos-distill.yaml");
            Files.writeString(spec, """
                    name: chaos-distill
                    teacher: %s
                    data:
                      path: %s
                    student: {n_layer: 1, init: teacher, layers: [1]}
                    distillation: {loss: forward_kl, temperature: 2.0, kd_ratio: 0.5}
                    optimizer: {lr: 0.01, warmup_steps: 5}
                    training: {steps: 30, batch_size: 8, log_every: 1}
                    eval: {every: 10, batches: 2}
                    checkpoints: {every: 10, keep: 2}
                    seed: 5
                    """.formatted(teacher(), tinyPrep()));
            return spec;
        }

        /**
         * A checkpoint large enough that writing its exports takes a while (4 blocks 256 wide, 13 MB a format),
         * whose run is in the store each export run starts from, so the export is logged to it.
         */
        Path exportCheckpoint() {
            return exportCheckpoint;
        }

        void exportRunStore(Path runs) throws IOException {
            if (exportCheckpoint == null) {
                exportRuns = dir.resolve("export-runs");
                LocalRunStore store = new LocalRunStore(exportRuns);
                LocalRunStore.Meta m = store.create("chaos-export", "trained", null);
                store.update(m, x -> x.withStatus("FINISHED", x.startTime() + 1000));
                Checkpoint ck = TinyTeacher.random(tinyPrep(), 4, 4, 256, 64, 5);
                exportCheckpoint = dir.resolve("export.ckpt");
                new Checkpoint(ck.header().withRunId(m.runId()), ck.sections()).write(exportCheckpoint);
            }
            copyTree(exportRuns, runs);
        }
    }

    /** Files under {@code root} that bear a final name (no hidden file or folder on their path), sorted. */
    static List<Path> finalFiles(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> Stream.of(root.relativize(p).toString().split("/")).noneMatch(n -> n.startsWith(".")))
                    .sorted().toList();
        }
    }

    static List<String> relative(Path root) throws IOException {
        List<String> out = new ArrayList<>();
        for (Path p : finalFiles(root)) {
            out.add(root.relativize(p).toString().replace('\\', '/'));
        }
        return out;
    }

    /** The same final files with the same bytes, but for {@code manifest} (compared by {@link #sameManifest}). */
    static void sameFiles(Path want, Path got, String manifest) throws IOException {
        List<String> files = relative(want);
        assertEquals(files, relative(got), "the files of " + got);
        for (String f : files) {
            if (!f.equals(manifest) && Files.mismatch(want.resolve(f), got.resolve(f)) != -1) {
                throw new AssertionError(got.resolve(f) + " differs from the uninterrupted run's " + want.resolve(f));
            }
        }
    }

    /** Two manifests with the same fields but their creation time. */
    static void sameManifest(Path want, Path got) throws IOException {
        JsonNode a = JSON.readTree(want.toFile());
        JsonNode b = JSON.readTree(got.toFile());
        ((ObjectNode) a).remove("created_at");
        ((ObjectNode) b).remove("created_at");
        assertEquals(a, b, got + " against the uninterrupted run's " + want);
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }
}
