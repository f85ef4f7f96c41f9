package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.progress.ProgressEvent;
import org.junit.jupiter.api.Test;

/** A job's state folded from the events the engine writes (made by the engine's own writer). */
class JobProgressTest {
    private static void feed(JobProgress p, ProgressEvent e) {
        p.event(ProgressEvent.read(e.toJson(), 1).orElseThrow());
    }

    @Test
    void aLocalMastersApplicationHasNoExecutorsOrUi() {
        JobProgress p = new JobProgress(new JobLaunch(JobLaunch.Kind.PREP, Path.of("p.yaml"), false, ""));
        feed(p, ProgressEvent.cluster("prep", "local-1796", "local[2]", null, 0));
        assertEquals("local", p.executorsText());
        assertNull(p.sparkUi());
    }

    @Test
    void aTrainingJobsLifeAsTheWorkbenchSeesIt() {
        JobProgress p = new JobProgress(new JobLaunch(JobLaunch.Kind.TRAIN, Path.of("t.yaml"), false, ""));
        assertEquals(JobProgress.State.STARTING, p.state());
        p.console("WARNING: Using incubator modules: jdk.incubator.vector", true);
        feed(p, ProgressEvent.run("train", "ab12", "demo", "train-demo"));
        feed(p, ProgressEvent.stage("train", "train", 2, 2));
        feed(p, ProgressEvent.progress("train", "train", 30, 120, "steps"));
        feed(p, ProgressEvent.metric("train", "train/loss", 7.5, 10));
        feed(p, ProgressEvent.metric("train", "train/loss", 7.0, 20));
        feed(p, ProgressEvent.metric("train", "val/unigram_entropy", 6.8));
        assertEquals(JobProgress.State.RUNNING, p.state());
        assertEquals("train (2/2)", p.stage());
        assertEquals(0.25, p.fraction());
        assertEquals("30/120 steps", p.progressText());
        assertEquals("ab12", p.runId());
        assertEquals("demo", p.experiment());
        assertEquals(Map.of("train/loss", new java.util.TreeMap<>(Map.of(10L, 7.5, 20L, 7.0))), p.metrics());
        assertEquals(6.8, p.figures().get("val/unigram_entropy"));
        assertEquals(3, p.metricEvents(), "every metric event counts, with a step or without");
        assertEquals("", p.executorsText(), "no application announced yet");
        feed(p, ProgressEvent.cluster("train", "app-20261130-0001", "spark://127.0.0.1:7077", "http://127.0.0.1:4040",
                1));
        feed(p, ProgressEvent.cluster("train", "app-20261130-0001", "spark://127.0.0.1:7077", "http://127.0.0.1:4040",
                2));
        assertEquals("app-20261130-0001", p.application());
        assertEquals("http://127.0.0.1:4040", p.sparkUi());
        assertEquals("2", p.executorsText(), "the latest count");
        feed(p, ProgressEvent.done("train", "/w/model.ckpt"));
        p.exited(0, false);
        assertEquals(JobProgress.State.FINISHED, p.state());
        assertEquals("/w/model.ckpt", p.output());
        assertNull(p.failure());
        assertEquals(1.0, p.fraction());
    }

    @Test
    void aDistributedRunShowsItsRanksAndTheStageAttempt() {
        JobProgress p = new JobProgress(new JobLaunch(JobLaunch.Kind.TRAIN, Path.of("t.yaml"), false,
                "spark://m:7077", false, 2));
        assertEquals("", p.ranksText(), "nothing before the ranks formed their ring");
        feed(p, ProgressEvent.ranks("train", 2, 0, List.of("10.0.0.1:40001", "10.0.0.2:40002")));
        assertEquals("2", p.ranksText());
        feed(p, ProgressEvent.ranks("train", 2, 1, List.of("10.0.0.1:40011", "10.0.0.3:40003")));
        assertEquals("2 (attempt 2)", p.ranksText(), "Spark ran the stage again");
        assertEquals("train t.yaml (2 ranks)", p.launch().label());
    }

    @Test
    void failureAndCancelAndTheConsoleWindow() {
        JobProgress p = new JobProgress(new JobLaunch(JobLaunch.Kind.PREP, Path.of("p.yaml"), false, ""));
        p.console("error: p.yaml:3: sources[0].path no file matches", true);
        p.exited(2, false);
        assertEquals(JobProgress.State.FAILED, p.state());
        assertEquals("p.yaml:3: sources[0].path no file matches", p.failure());

        JobProgress c = new JobProgress(new JobLaunch(JobLaunch.Kind.TRAIN, Path.of("t.yaml"), false, ""));
        feed(c, ProgressEvent.failed("train", "stopped at step 7 of 40 on request"));
        c.exited(143, true);
        assertEquals(JobProgress.State.CANCELLED, c.state());
        assertTrue(c.ended());

        for (int i = 0; i < JobProgress.CONSOLE_LINES + 10; i++) {
            c.console("line " + i, false);
        }
        assertEquals(JobProgress.CONSOLE_LINES + 10, c.consoleCount());
        assertEquals(List.of("line " + (JobProgress.CONSOLE_LINES + 8), "line " + (JobProgress.CONSOLE_LINES + 9)),
                c.consoleSince(c.consoleCount() - 2));
        assertEquals(JobProgress.CONSOLE_LINES, c.consoleSince(0).size());
    }

    @Test
    void observersHearEachChangeAfterItIsMade() {
        JobProgress p = new JobProgress(new JobLaunch(JobLaunch.Kind.TRAIN, Path.of("t.yaml"), false, ""));
        List<String> heard = new java.util.ArrayList<>();
        p.observe((job, change) -> heard.add(change + (change == JobProgress.Change.RUN ? " " + job.runId() : "")
                + (change == JobProgress.Change.STATE ? " " + job.state() : "")));
        p.console("$ distillery train t.yaml", false);
        feed(p, ProgressEvent.run("train", "ab12", "demo", "train-demo"));
        feed(p, ProgressEvent.stage("train", "train", 2, 2));
        feed(p, ProgressEvent.progress("train", "train", 30, 120, "steps"));
        feed(p, ProgressEvent.metric("train", "train/loss", 7.5, 10));
        feed(p, ProgressEvent.done("train", "/w/model.ckpt"));
        p.exited(0, false);
        assertEquals(List.of("CONSOLE", "STATE RUNNING", "RUN ab12", "PROGRESS", "PROGRESS", "METRIC", "PROGRESS",
                "STATE FINISHED"), heard);
    }
}
