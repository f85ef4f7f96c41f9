package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.io.Sha256;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TeacherLogitsSpec;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptParameters;
import org.distillery.model.TinyPrep;
import org.distillery.model.TinyTeacher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The teacher-logit job on local[2] against the teacher run directly, window by window. */
class TeacherLogitsJobTest {
    @TempDir
    static Path dir;
    static SparkSession spark;
    static Path data;
    static Checkpoint teacher;
    static TeacherLogitsJob.Result result;
    static final List<ProgressEvent> events = new ArrayList<>();

    @BeforeAll
    static void runOnce() throws Exception {
        spark = SparkSessions.open("local[2]", "teacher-logits-test", 3);
        data = TinyPrep.write(dir.resolve("prep"), 120, false);
        teacher = TinyTeacher.random(data, 2, 2, 32, 32, 5);
        result = job(spec("scores", "top_k: 8\ntemperature: 2.0\nwindow: 16\nbatch_size: 3\nspark: {partitions: 3}"),
                "out").run(spark);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    static Path spec(String name, String body) throws IOException {
        Path f = dir.resolve(name + ".yaml");
        Files.writeString(f, "name: " + name + "\nteacher: teacher.ckpt\ndata: {path: prep}\n" + body + "\n");
        return f;
    }

    static TeacherLogitsJob job(Path spec, String out) {
        return new TeacherLogitsJob(SpecReader.readLocated(spec, TeacherLogitsSpec.class), teacher, "teacher.ckpt", data,
                dir.resolve(out), false, e -> {
                    synchronized (events) {
                        events.add(e);
                    }
                });
    }

    @Test
    void everyWindowOfTheSplitIsScoredOnceInOrder() throws IOException {
        TeacherLogitsManifest m = TeacherLogitsManifest.read(result.output());
        m.verify(result.output());
        ShardManifest prep = ShardManifest.read(data);
        assertEquals(Sha256.of(data.resolve(ShardManifest.FILE_NAME)), m.datasetManifestSha256());
        assertEquals(prep.tokenizer().sha256(), m.tokenizerSha256());
        assertEquals(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)).sha256(),
                m.teacher().get("params_sha256"));
        assertEquals(List.of(8, 16, 2.0f, 257, "train"), List.of(m.topK(), m.window(), m.temperature(), m.vocabSize(),
                m.split()));
        assertEquals(3, m.shards().size());
        assertEquals(List.of("train-00000.tlogits", "train-00001.tlogits", "train-00002.tlogits"),
                m.shards().stream().map(TeacherLogits.Shard::file).toList());
        long expected = 0;
        List<int[]> windows = new ArrayList<>();
        for (TokenShardWriter.Summary s : prep.splits().get("train").shards()) {
            try (TokenShardReader r = TokenShardReader.open(data.resolve(s.file()))) {
                for (long w = 0; w < (r.tokens() - 1) / 16; w++) {
                    int[] t = new int[17];
                    r.read(w * 16, t);
                    windows.add(t);
                }
            }
            expected += (s.tokens() - 1) / 16;
        }
        assertEquals(expected, m.windows());
        int i = 0;
        TeacherLogits.Window w = new TeacherLogits.Window(16, 8);
        for (TeacherLogits.Shard s : m.shards()) {
            try (TeacherLogits.Reader r = new TeacherLogits.Reader(result.output().resolve(s.file()))) {
                for (long j = 0; j < s.windows(); j++) {
                    r.read(j, w);
                    assertEquals(java.util.Arrays.toString(windows.get(i++)), java.util.Arrays.toString(w.tokens),
                            "window " + (i - 1) + " in order, sharing edge tokens");
                }
            }
        }
        assertEquals(windows.size(), i);
        try (var files = Files.list(result.output())) {
            assertEquals(Set.of("teacher-logits.json", "train-00000.tlogits", "train-00001.tlogits", "train-00002.tlogits"),
                    new HashSet<>(files.map(p -> p.getFileName().toString()).toList()), "no temporary files left");
        }
        synchronized (events) {
            assertTrue(events.stream().anyMatch(e -> "done".equals(e.type())), "a done event");
        }
    }

    /**
     * A run that stops after scoring (here: as it starts the manifest, like a kill) leaves its finished
     * shards in the staging folder; the next run of the same work reuses them and scores only what is
     * missing, and the output is what a straight run writes.
     */
    @Test
    void aStoppedRunResumesFromItsFinishedShards() throws IOException {
        Path spec = spec("resume", "top_k: 8\ntemperature: 2.0\nwindow: 16\nbatch_size: 3\nspark: {partitions: 3}");
        Path out = dir.resolve("resumed");
        ProgressListener killAtManifest = e -> {
            if (e instanceof ProgressEvent.Stage s && "manifest".equals(s.stage())) {
                throw new IllegalStateException("killed before the manifest");
            }
        };
        TeacherLogitsJob first = new TeacherLogitsJob(SpecReader.readLocated(spec, TeacherLogitsSpec.class), teacher,
                "teacher.ckpt", data, out, false, killAtManifest);
        assertThrows(IllegalStateException.class, () -> first.run(spark));
        assertTrue(!Files.exists(out), "no output under the final name");
        Path staging = AtomicDirectory.resumableStaging(out);
        Path kept = staging.resolve("train-00000.tlogits");
        assertTrue(Files.isRegularFile(kept), "finished shards stay for the next run");
        Files.delete(staging.resolve("train-00002.tlogits")); // as if the kill came before that task ended
        FileTime keptTime = Files.getLastModifiedTime(kept);

        TeacherLogitsJob.Result r = job(spec, "resumed").run(spark);
        assertEquals(2, r.reusedShards());
        assertEquals(keptTime, Files.getLastModifiedTime(out.resolve("train-00000.tlogits")), "reused, not rewritten");
        assertTrue(!Files.exists(staging));
        TeacherLogitsManifest m = TeacherLogitsManifest.read(out);
        m.verify(out);
        TeacherLogitsManifest straight = result.manifest();
        assertEquals(straight.windows(), m.windows());
        assertEquals(straight.shards().stream().map(TeacherLogits.Shard::windows).toList(),
                m.shards().stream().map(TeacherLogits.Shard::windows).toList());
        try (var files = Files.list(out)) {
            assertEquals(Set.of("teacher-logits.json", "train-00000.tlogits", "train-00001.tlogits", "train-00002.tlogits"),
                    new HashSet<>(files.map(p -> p.getFileName().toString()).toList()), "no staging files left");
        }

        // Other work (another top_k) finds nothing to resume: the stale staging folder is discarded.
        Path other = spec("resume", "top_k: 4\ntemperature: 2.0\nwindow: 16\nbatch_size: 3\nspark: {partitions: 3}");
        Files.createDirectories(AtomicDirectory.resumableStaging(dir.resolve("other")));
        Files.copy(out.resolve("train-00001.tlogits"), AtomicDirectory.resumableStaging(dir.resolve("other"))
                .resolve("train-00001.tlogits"));
        assertEquals(0, job(other, "other").run(spark).reusedShards());
        assertEquals(4, TeacherLogitsManifest.read(dir.resolve("other")).topK());
    }

    /** Each position holds the teacher's k best logits (relative to its top) and the rest's mass at τ. */
    @Test
    void theStoredBucketsAreTheTeachersDistribution() throws IOException {
        Gpt gpt = new Gpt(GptParameters.wrap(teacher.header().model(), teacher.section(Checkpoint.PARAMS)));
        TeacherLogitsManifest m = result.manifest();
        TeacherLogits.Window w = new TeacherLogits.Window(16, 8);
        int vocab = 257;
        double worstValue = 0;
        double worstRest = 0;
        try (TeacherLogits.Reader r = new TeacherLogits.Reader(result.output().resolve(m.shards().get(1).file()))) {
            for (long j = 0; j < r.header().windows(); j += 3) {
                r.read(j, w);
                INDArray logits = gpt.logits(java.util.Arrays.copyOf(w.tokens, 16), 1, 16);
                FloatBuffer rows = logits.data().asNioFloat();
                for (int t = 0; t < 16; t++) {
                    float[] z = new float[vocab];
                    rows.get(t * vocab, z);
                    double max = Double.NEGATIVE_INFINITY;
                    for (float v : z) {
                        max = Math.max(max, v);
                    }
                    Set<Integer> kept = new HashSet<>();
                    for (int i = 0; i < 8; i++) {
                        int id = w.ids[t * 8 + i];
                        kept.add(id);
                        worstValue = Math.max(worstValue, Math.abs(z[id] - max - w.logits[t * 8 + i]));
                    }
                    assertEquals(8, kept.size(), "k distinct ids");
                    double others = 0;
                    for (int v = 0; v < vocab; v++) {
                        if (!kept.contains(v)) {
                            others += Math.exp((z[v] - max) / 2.0);
                            assertTrue(z[v] - max <= w.logits[t * 8 + 7] + 2e-3, "token " + v + " left out beats the k-th");
                        }
                    }
                    worstRest = Math.max(worstRest, Math.abs(Math.log(others) - w.rest[t]));
                }
            }
        }
        assertTrue(worstValue < 2e-3, "fp16 logits within rounding: " + worstValue);
        assertTrue(worstRest < 1e-4, "rest log-sum-exp: " + worstRest);
    }

    @Test
    void badInputIsRefusedNamingWhatIsWrong() throws IOException {
        Path otherData = TinyPrep.write(dir.resolve("prep-variant"), 40, true);
        Path s = spec("mismatch", "window: 16");
        DistilleryException e = assertThrows(DistilleryException.class, () -> new TeacherLogitsJob(
                SpecReader.readLocated(s, TeacherLogitsSpec.class), teacher, "teacher.ckpt", otherData,
                dir.resolve("never"), false, ev -> { }).run(spark));
        assertTrue(e.getMessage().contains(teacher.header().tokenizer().sha256())
                && e.getMessage().contains(ShardManifest.read(otherData).tokenizer().sha256()), e.getMessage());

        SpecException tooLong = assertThrows(SpecException.class, () -> job(spec("long", "window: 64"), "never").run(spark));
        assertTrue(tooLong.getMessage().contains("long.yaml:4: window is 64, longer than the teacher's block_size 32"),
                tooLong.getMessage());
        SpecException k = assertThrows(SpecException.class, () -> job(spec("k", "top_k: 257"), "never").run(spark));
        assertTrue(k.getMessage().contains("k.yaml:4: top_k is 257, but the vocabulary has 257 tokens"), k.getMessage());
        SpecException temperature = assertThrows(SpecException.class, () -> SpecReader.readLocated(
                spec("cold", "temperature: 0"), TeacherLogitsSpec.class));
        assertTrue(temperature.getMessage().contains("cold.yaml:4: temperature must be positive, found 0.0"),
                temperature.getMessage());
        assertFalse(Files.exists(dir.resolve("never")), "nothing written");

        DistilleryException exists = assertThrows(DistilleryException.class,
                () -> job(spec("again", "window: 16"), "out").run(spark));
        assertTrue(exists.getMessage().contains("already exists"), exists.getMessage());
    }
}
