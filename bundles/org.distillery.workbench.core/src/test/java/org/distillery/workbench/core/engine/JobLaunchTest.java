package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobLaunchTest {
    @TempDir
    Path tmp;

    @Test
    void theCheckoutsOwnSpecsAreRecognised() {
        Path pipelines = Path.of("").toAbsolutePath().getParent().getParent().resolve("pipelines"); // the checkout's
        assertEquals(Optional.of(JobLaunch.Kind.PREP), JobLaunch.guess(pipelines.resolve("demo/prep.yaml")));
        assertEquals(Optional.of(JobLaunch.Kind.TRAIN), JobLaunch.guess(pipelines.resolve("demo/train.yaml")));
        assertEquals(Optional.of(JobLaunch.Kind.DISTILL), JobLaunch.guess(pipelines.resolve("demo/distill.yaml")));
        assertEquals(Optional.of(JobLaunch.Kind.EXPERIMENT), JobLaunch.guess(pipelines.resolve("kd-experiment/experiment.yaml")));
        assertEquals(Optional.of(JobLaunch.Kind.TEACHER_LOGITS),
                JobLaunch.guess(pipelines.resolve("kd-experiment/teacher-logits.yaml")));
    }

    @Test
    void theSpecNamesItsOutputFolder() throws Exception {
        Path spec = tmp.resolve("t.yaml");
        Files.writeString(spec, "# a comment\ndata:\n  name: nested\nname: 'kd-teacher'  # the run\nmodel: {}\n");
        assertEquals("kd-teacher", JobLaunch.specName(spec));
        Files.writeString(spec, "model: {}\n");
        assertEquals("", JobLaunch.specName(spec));
    }

    @Test
    void aFileThatIsNoSpecHasNoKind() throws Exception {
        Path notes = tmp.resolve("notes.yaml");
        Files.writeString(notes, "title: hello\n  model: nested, not top level\n");
        assertEquals(Optional.empty(), JobLaunch.guess(notes));
    }

    @Test
    void theCommandIsTheCliAsAUserWouldTypeIt() {
        EngineSettings s = new EngineSettings(tmp, tmp.resolve("work"), "http://127.0.0.1:5000", "spark://m:7077",
                Path.of("/opt/jdk17"), EngineSettings.Backend.CUDA);
        Path spec = tmp.resolve("train.yaml");
        EngineCommand train = new JobLaunch(JobLaunch.Kind.TRAIN, spec, true, "").command(s);
        assertEquals(List.of(tmp.resolve("bin/distillery").toString(), "--progress=json", "--work-dir=" + tmp.resolve("work"),
                "--tracking-uri=http://127.0.0.1:5000", "train", spec.toString(), "--resume"), train.command());
        assertEquals("/opt/jdk17", train.environment().get("JAVA_HOME"));
        assertTrue(train.environment().get("PATH").startsWith("/opt/jdk17/bin:"));
        assertTrue(train.environment().get("DISTILLERY_JAVA_OPTS").endsWith("-Ddistillery.backend=cuda"));
        assertEquals(tmp, train.directory());

        EngineCommand prep = new JobLaunch(JobLaunch.Kind.PREP, spec, false, "local[2]").command(s);
        assertEquals(List.of("prep", spec.toString(), "--master=local[2]"), prep.command().subList(4, 7));
        EngineCommand prepDefault = new JobLaunch(JobLaunch.Kind.PREP, spec, false, null).command(s);
        assertEquals("--master=spark://m:7077", prepDefault.command().get(6));
        assertThrows(IllegalArgumentException.class, () -> new JobLaunch(JobLaunch.Kind.PREP, spec, true, ""));
        assertThrows(IllegalArgumentException.class, () -> new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "", true));
        assertEquals(List.of("prep", spec.toString(), "--master=local[2]", "--overwrite"),
                new JobLaunch(JobLaunch.Kind.PREP, spec, false, "local[2]", true).command(s).command().subList(4, 8));
        assertEquals(JobLaunch.Kind.TEACHER_LOGITS, JobLaunch.Kind.ofCommand("teacher-logits"));
        // over ranks: the master of the launch, else the preference's; a single rank runs in one process
        assertEquals(List.of("distill", spec.toString(), "--master=spark://m:7077", "--ranks=2"),
                new JobLaunch(JobLaunch.Kind.DISTILL, spec, false, "", false, 2).command(s).command().subList(4, 8));
        assertEquals(List.of("train", spec.toString(), "--ranks=1"),
                new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "", false, 1).command(s).command().subList(4, 7));
        assertThrows(IllegalArgumentException.class, () -> new JobLaunch(JobLaunch.Kind.PREP, spec, false, "", false, 2));
        assertThrows(IllegalArgumentException.class, () -> new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "", false,
                -1));
        // on a cluster's work folder: the output goes there, and a resume keeps it (its checkpoints are there)
        JobLaunch onHdfs = new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "spark://m:7077", false, 2,
                "hdfs://nn:8020/work/train/demo");
        assertEquals(List.of("train", spec.toString(), "--master=spark://m:7077", "--ranks=2",
                "--out=hdfs://nn:8020/work/train/demo"), onHdfs.command(s).command().subList(4, 9));
        assertEquals(List.of("--ranks=2", "--resume", "--out=hdfs://nn:8020/work/train/demo"),
                onHdfs.resumed().command(s).command().subList(7, 10));
        assertThrows(IllegalArgumentException.class, () -> new JobLaunch(JobLaunch.Kind.EXPERIMENT, spec, false, "",
                false, 0, "hdfs://nn:8020/work/experiment/kd"));
        assertEquals("x 'a b' 'it'\\''s'", new EngineCommand(List.of("x", "a b", "it's"), java.util.Map.of(), tmp).display());
    }

    @Test
    void aLaunchConfigurationStoresTheLaunchAndNamesBadAttributes() {
        Path spec = tmp.resolve("specs/uitest.yaml");
        JobLaunch train = new JobLaunch(JobLaunch.Kind.TRAIN, spec, true, "");
        java.util.Map<String, Object> a = train.attributes();
        assertEquals("train", a.get(JobLaunch.ATTR_KIND));
        assertEquals(spec.toAbsolutePath().toString(), a.get(JobLaunch.ATTR_SPEC));
        assertEquals(train, JobLaunch.fromAttributes("train uitest", a));
        assertEquals("train uitest", train.configurationName());
        JobLaunch prep = new JobLaunch(JobLaunch.Kind.PREP, spec, false, "spark://m:7077", true);
        assertEquals(prep, JobLaunch.fromAttributes("p", prep.attributes()));
        JobLaunch ranks = new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "spark://m:7077", false, 4);
        assertEquals(ranks, JobLaunch.fromAttributes("r", ranks.attributes()));
        assertEquals(ranks.resumed(), JobLaunch.fromAttributes("r", ranks.resumed().attributes()));
        assertEquals(4, ranks.resumed().ranks(), "a resumed launch keeps its ranks");
        JobLaunch placed = new JobLaunch(JobLaunch.Kind.TRAIN, spec, false, "spark://m:7077", false, 2,
                "hdfs://nn:8020/work/train/uitest");
        assertEquals(placed, JobLaunch.fromAttributes("h", placed.attributes()));
        assertEquals(true, prep.attributes().get(JobLaunch.ATTR_OVERWRITE));
        java.util.Map<String, Object> old = new java.util.HashMap<>(prep.attributes());
        old.remove(JobLaunch.ATTR_OVERWRITE); // a configuration saved before the attribute existed
        assertEquals(new JobLaunch(JobLaunch.Kind.PREP, spec, false, "spark://m:7077"), JobLaunch.fromAttributes("p", old));

        java.util.Map<String, Object> bad = new java.util.HashMap<>(a);
        bad.put(JobLaunch.ATTR_KIND, "trian");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobLaunch.fromAttributes("train uitest", bad));
        assertTrue(e.getMessage().startsWith("train uitest: org.distillery.launch.kind: no job command 'trian'"),
                e.getMessage());
        bad.put(JobLaunch.ATTR_KIND, "prep");
        e = assertThrows(IllegalArgumentException.class, () -> JobLaunch.fromAttributes("c", bad));
        assertTrue(e.getMessage().contains("prep jobs do not resume"), e.getMessage());
        bad.remove(JobLaunch.ATTR_SPEC);
        e = assertThrows(IllegalArgumentException.class, () -> JobLaunch.fromAttributes("c", bad));
        assertTrue(e.getMessage().startsWith("c: org.distillery.launch.spec must name the spec file"), e.getMessage());
    }
}
