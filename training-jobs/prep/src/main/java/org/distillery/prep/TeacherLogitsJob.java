package org.distillery.prep;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkException;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.RemoteFiles;
import org.distillery.core.io.Sha256;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardCache;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TeacherLogitsSpec;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.distill.TeacherScorer;

/**
 * {@code distillery teacher-logits}: a teacher's top-k next-token logits over one split of a prep output,
 * as one Spark job, for distill runs that should not pay for the teacher at every step.
 *
 * <p>The split's shards are cut into consecutive windows of {@code window + 1} tokens (neighbours share
 * their edge token, so every position is scored once) and the windows are dealt out in order to
 * {@code spark.partitions} tasks. Each task writes one {@link TeacherLogits} shard; the teacher is
 * shipped with {@code addFile} (weights only) and loaded once per executor JVM, however many tasks run
 * there. Which window lands in which shard depends only on the data and the spec, never on the cluster,
 * so a cluster run and a local one write the same windows. Shards go into a staging folder, the
 * manifest last, and the folder is renamed into place: a killed job leaves nothing that looks complete.
 */
public final class TeacherLogitsJob {
    public static final String JOB = "teacher-logits";

    private final SpecReader.Located<TeacherLogitsSpec> located;
    private final TeacherLogitsSpec spec;
    private final Checkpoint teacher;
    private final String teacherSource;
    private final Location data;
    private final Location output;
    private final boolean overwrite;
    private final ProgressListener progress;

    /**
     * What the job wrote, with its wall time for the benchmark; {@code reusedShards} were scored by an earlier
     * run of the same job that stopped.
     */
    public record Result(Location location, TeacherLogitsManifest manifest, double seconds, int reusedShards) {
        /** The output folder, when it is local. */
        public Path output() {
            return location.local();
        }
    }

    public TeacherLogitsJob(SpecReader.Located<TeacherLogitsSpec> spec, Checkpoint teacher, String teacherSource,
                            Path dataDir, Path output, boolean overwrite, ProgressListener progress) {
        this(spec, teacher, teacherSource, Location.of(dataDir), Location.of(output), overwrite, progress);
    }

    /**
     * @param data   a prep output, local or on another file system ({@code hdfs://}): executors then fetch the
     *               shards their tasks read, by SHA-256, into a cache of their own
     * @param output local, or on another file system: the resumable staging folder is then there too, and
     *               executors write their shards straight into it
     */
    public TeacherLogitsJob(SpecReader.Located<TeacherLogitsSpec> spec, Checkpoint teacher, String teacherSource,
                            Location data, Location output, boolean overwrite, ProgressListener progress) {
        this.located = spec;
        this.spec = spec.spec();
        this.teacher = teacher;
        this.teacherSource = teacherSource;
        this.data = data;
        this.output = output;
        this.overwrite = overwrite;
        this.progress = progress;
    }

    /** A run of consecutive windows of one token shard. */
    record Piece(String file, String sha256, long firstWindow, long windows) implements Serializable {
    }

    /** One task's work: the pieces that make up output shard {@code index}. */
    record Task(int index, List<Piece> pieces) implements Serializable {
    }

    /** What every task needs to know, shipped once with the closure. */
    record Plan(String dataDir, String split, String staging, String teacherFile, String teacherSha256, int window,
                int topK, float temperature, int batch, int vocab) implements Serializable {
    }

    public Result run(SparkSession spark) throws IOException {
        long started = System.nanoTime();
        // The manifest is read where the driver is; a remote one through a local copy of that one file.
        Path manifestDir = data.isRemote() ? Files.createTempDirectory("distillery-manifest-") : data.local();
        if (data.isRemote()) {
            ShardCache.fetchManifest(data, ShardManifest.FILE_NAME, "prep", manifestDir);
        }
        ShardManifest manifest = ShardManifest.read(manifestDir);
        String datasetSha = Sha256.of(manifestDir.resolve(ShardManifest.FILE_NAME));
        if (data.isRemote()) {
            Directories.deleteRecursively(manifestDir);
        }
        Checkpoint.Header th = teacher.header();
        GptConfig tc = th.model();
        DistillJob.requireTeacherFits(th, teacherSource, manifest, data.toString());
        int window = spec.window() != null ? spec.window() : tc.blockSize();
        if (window > tc.blockSize()) {
            throw located.error("window", "is " + window + ", longer than the teacher's block_size " + tc.blockSize()
                    + ": the teacher cannot score positions beyond its own");
        }
        if (spec.topK() >= tc.vocabSize()) {
            throw located.error("top_k", "is " + spec.topK() + ", but the vocabulary has " + tc.vocabSize()
                    + " tokens: keep fewer than all, the rest's log-sum-exp stands for the others");
        }
        List<Task> tasks = plan(manifest, window);
        long windows = tasks.stream().flatMap(t -> t.pieces().stream()).mapToLong(Piece::windows).sum();
        GptParameters weights = GptParameters.wrap(tc, teacher.section(Checkpoint.PARAMS));
        String teacherSha = weights.sha256();

        SparkProgress sparkProgress = new SparkProgress(JOB, progress);
        spark.sparkContext().addSparkListener(sparkProgress);
        TeacherLogitsManifest[] written = new TeacherLogitsManifest[1];
        int[] reused = new int[1];
        // A stopped run's finished shards are kept and reused by the next run of the same work: same teacher,
        // data, split and settings, dealt into the same tasks.
        String key = Sha256.of(String.join("\n", "teacher-logits/" + TeacherLogits.VERSION, teacherSha, datasetSha,
                spec.split(), String.valueOf(window), String.valueOf(spec.topK()), String.valueOf(spec.temperature()),
                String.valueOf(tc.vocabSize()), tasks.toString()));
        try {
            AtomicDirectory.writeResumable(output, overwrite, key, staging -> {
                List<TeacherLogits.Shard> shards = new ArrayList<>();
                List<Task> todo = new ArrayList<>();
                for (Task t : tasks) {
                    TeacherLogits.Shard done = finished(staging.resolve(shardName(spec.split(), t.index())), t);
                    if (done != null) {
                        shards.add(done);
                    } else {
                        todo.add(t);
                    }
                }
                reused[0] = shards.size();
                // Weights only (no optimizer moments): the file every executor fetches once, from the driver.
                // Named by the weights' hash: executors keep fetched files by name, and one name must mean one content.
                Path teacherDir = Files.createTempDirectory("distillery-teacher-");
                Path teacherFile = teacherDir.resolve(".teacher-" + teacherSha.substring(0, 16) + ".ckpt");
                try {
                    new Checkpoint(th, Map.of(Checkpoint.PARAMS, weights.flat())).write(teacherFile);
                    JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
                    sc.addFile(teacherFile.toString());
                    Plan plan = new Plan(data.toString(), spec.split(), staging.toString(),
                            teacherFile.getFileName().toString(), teacherSha, window, spec.topK(),
                            spec.temperature().floatValue(), spec.batchSize(), tc.vocabSize());
                    progress.on(ProgressEvent.stage(JOB, "score", 1, 2));
                    sparkProgress.stage("score");
                    if (!todo.isEmpty()) {
                        shards.addAll(sc.parallelize(todo, todo.size()).map(t -> writeShard(plan, t)).collect());
                    }
                } finally {
                    Directories.deleteRecursively(teacherDir);
                }
                shards.sort(Comparator.comparing(TeacherLogits.Shard::file));
                removeLeftovers(staging); // temporary shards of task attempts that died
                progress.on(ProgressEvent.stage(JOB, "manifest", 2, 2));
                TeacherLogitsManifest m = new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT,
                        TeacherLogitsManifest.VERSION, Versions.distillery(), Instant.now().toString(), datasetSha,
                        manifest.tokenizer().sha256(), spec.split(), teacherInfo(th, teacherSha), spec.topK(),
                        spec.temperature().floatValue(), window, tc.vocabSize(), windows, shards);
                if (staging.isRemote()) {
                    Path local = Files.createTempDirectory("distillery-manifest-");
                    try {
                        m.write(local);
                        staging.files().upload(local.resolve(TeacherLogitsManifest.FILE_NAME),
                                staging.resolve(TeacherLogitsManifest.FILE_NAME).remote());
                    } finally {
                        Directories.deleteRecursively(local);
                    }
                } else {
                    m.write(staging.local());
                }
                written[0] = m;
            });
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) { // Spark's checked SparkException, thrown from Scala without a declaration
            throw e instanceof SparkException se ? SparkErrors.unwrap(se) : new IllegalStateException(e);
        } finally {
            spark.sparkContext().removeSparkListener(sparkProgress);
        }
        progress.on(ProgressEvent.done(JOB, output.toString()));
        return new Result(output, written[0], (System.nanoTime() - started) / 1e9, reused[0]);
    }

    private Map<String, Object> teacherInfo(Checkpoint.Header th, String paramsSha) {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("source", teacherSource);
        t.put("params_sha256", paramsSha);
        t.put("model", th.model());
        t.put("step", th.step());
        if (th.runId() != null) {
            t.put("run_id", th.runId());
        }
        return t;
    }

    /** Deals the split's windows, in order, into at most {@code spark.partitions} runs of near-equal length. */
    List<Task> plan(ShardManifest manifest, int window) {
        ShardManifest.Split split = manifest.splits().get(spec.split());
        if (split == null || split.shards().isEmpty()) {
            throw located.error("split", "is '" + spec.split() + "', but " + data.resolve(ShardManifest.FILE_NAME)
                    + " has no such shards");
        }
        List<TokenShardWriter.Summary> shards = split.shards();
        long[] perShard = new long[shards.size()];
        long total = 0;
        for (int i = 0; i < perShard.length; i++) {
            perShard[i] = TeacherScorer.windowsIn(shards.get(i).tokens(), window);
            total += perShard[i];
        }
        if (total == 0) {
            throw located.error("window", "is " + window + ", but no " + spec.split() + " shard in " + data
                    + " holds " + (window + 1) + " tokens");
        }
        int parts = (int) Math.min(spec.spark().partitions(), total);
        List<Task> tasks = new ArrayList<>();
        int shard = 0;
        long offset = 0; // windows of the current shard already dealt
        for (int p = 0; p < parts; p++) {
            long want = total * (p + 1) / parts - total * p / parts;
            List<Piece> pieces = new ArrayList<>();
            while (want > 0) {
                long take = Math.min(want, perShard[shard] - offset);
                if (take > 0) {
                    TokenShardWriter.Summary s = shards.get(shard);
                    pieces.add(new Piece(s.file(), s.sha256(), offset, take));
                    offset += take;
                    want -= take;
                }
                if (offset == perShard[shard]) {
                    shard++;
                    offset = 0;
                }
            }
            tasks.add(new Task(p, pieces));
        }
        return tasks;
    }

    /**
     * The shard a stopped run finished for {@code task}, or null when it must be scored (again). Shards
     * are renamed into place only once complete; one whose header or length does not hold, or that holds
     * another number of windows, is removed.
     */
    static TeacherLogits.Shard finished(Location file, Task task) throws IOException {
        if (!file.isRemote()) {
            return finished(file.local(), task);
        }
        RemoteFiles files = file.files();
        if (!files.exists(file.remote())) {
            return null;
        }
        // Checked on a local copy, as a local one would be; a damaged one is removed there too.
        Path copy = Files.createTempFile("distillery-tlogits-", "");
        try {
            files.download(file.remote(), copy);
            TeacherLogits.Shard done = finished(copy, task);
            if (done == null) {
                files.delete(file.remote());
                return null;
            }
            return new TeacherLogits.Shard(file.name(), done.sha256(), done.windows(), done.bytes());
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    static TeacherLogits.Shard finished(Path file, Task task) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        long want = task.pieces().stream().mapToLong(Piece::windows).sum();
        try (TeacherLogits.Reader r = new TeacherLogits.Reader(file)) {
            if (r.header().windows() == want) {
                return new TeacherLogits.Shard(file.getFileName().toString(), Sha256.of(file), want, Files.size(file));
            }
        } catch (IOException | RuntimeException e) {
            // damaged: scored again below
        }
        Files.delete(file);
        return null;
    }

    /** Where executors put shards on their way into a remote staging folder; a died attempt's are removed. */
    private static final String UPLOADS = ".uploading";

    private static void removeLeftovers(Location staging) throws IOException {
        if (staging.isRemote()) {
            staging.files().delete(staging.resolve(UPLOADS).remote());
        } else {
            AtomicFile.removeLeftovers(staging.local());
        }
    }

    /** The name of output shard {@code index}. */
    static String shardName(String split, int index) {
        return String.format("%s-%05d.tlogits", split, index);
    }

    /** One task on an executor: score its windows with the teacher and write them as one shard. */
    static TeacherLogits.Shard writeShard(Plan plan, Task task) throws IOException {
        Gpt teacher = Teachers.get(plan.teacherSha256(), plan.teacherFile());
        TeacherScorer scorer = new TeacherScorer(teacher, new TeacherScorer.Settings(plan.window(), plan.topK(),
                plan.temperature(), plan.batch()));
        Location data = Location.parse(plan.dataDir(), Path.of("/"));
        Location staging = Location.parse(plan.staging(), Path.of("/"));
        String name = shardName(plan.split(), task.index());
        // A remote staging folder gets the shard once it is whole: written here, uploaded under a hidden name,
        // renamed into place (the name a resumed run trusts).
        Path scratch = staging.isRemote() ? Files.createTempDirectory("distillery-tlogits-") : null;
        Path target = scratch != null ? scratch.resolve(name) : staging.local().resolve(name);
        try {
            TeacherLogits.Shard shard;
            try (TeacherLogits.Writer out = new TeacherLogits.Writer(target, plan.window(), plan.topK(), plan.vocab(),
                    plan.temperature())) {
                for (Piece piece : task.pieces()) {
                    Path file = data.isRemote()
                            ? ShardCache.file(data.resolve(piece.file()), piece.sha256(), SHARD_CACHE)
                            : data.local().resolve(piece.file());
                    try (TokenShardReader tokens = TokenShardReader.open(file, piece.sha256())) {
                        scorer.score(tokens, piece.firstWindow(), piece.windows(), out);
                    }
                }
                scorer.flush(out);
                shard = out.finish();
            }
            if (scratch != null) {
                // (over the shard of an earlier attempt of this task that finished after all)
                staging.files().put(target, staging.resolve(name).remote(),
                        staging.resolve(UPLOADS).resolve(java.util.UUID.randomUUID() + "-" + name).remote());
            }
            return shard;
        } finally {
            if (scratch != null) {
                Directories.deleteRecursively(scratch);
            }
        }
    }

    /** Shards an executor fetched from a remote prep output, by SHA-256, shared by its tasks. */
    private static final Path SHARD_CACHE = Path.of(System.getProperty("java.io.tmpdir"), "distillery-cache", "shards");

    /** One loaded teacher per executor JVM, by the SHA-256 of its weights, whatever the number of tasks. */
    static final class Teachers {
        private static final ConcurrentHashMap<String, Gpt> BY_SHA = new ConcurrentHashMap<>();

        private Teachers() {
        }

        static Gpt get(String sha256, String fileName) {
            return BY_SHA.computeIfAbsent(sha256, s -> {
                Checkpoint c = Checkpoint.read(Path.of(SparkFiles.get(fileName)));
                return new Gpt(GptParameters.wrap(c.header().model(), c.section(Checkpoint.PARAMS)));
            });
        }
    }
}
