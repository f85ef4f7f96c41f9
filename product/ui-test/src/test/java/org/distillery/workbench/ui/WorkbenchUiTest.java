package org.distillery.workbench.ui;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.distillery.core.testing.Hdfs;
import org.distillery.core.testing.SparkDistribution;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real workbench product, started from its launch script under Xvfb, with the UI driver bundle
 * added to a copy of it. The driver launches a tiny pipeline from the Run As Distillery Job dialog
 * (prep on Spark local[2], then training), the engine is this checkout's {@code bin/distillery}, and
 * the test checks what the driver saw: each job's progress in the Jobs view, the run in the Runs view,
 * its curve in the chart (growing while the job ran), and a screenshot, kept as
 * {@code target/workbench-runs.png}.
 */
class WorkbenchUiTest {
    private static final Path ROOT = ProductUnderXvfb.ROOT;
    private static final int STEPS = 60;
    private static final int LOG_EVERY = 2;

    @TempDir
    Path tmp;

    @Test
    void launchesATinyPipelineAndChartsItsRun() throws Exception {
        Path product = ProductUnderXvfb.installWithDriver(tmp.resolve("product"));
        Path prep = tmp.resolve("specs/prep.yaml");
        Files.createDirectories(prep.getParent());
        Files.writeString(prep, """
                name: uitest
                sources:
                  - path: %s
                    format: json-sentences
                tokenizer:
                  vocab_size: 400
                spark:
                  master: local[2]
                  partitions: 2
                """.formatted(ROOT.resolve("datasets/nlp-corpus/sample")));
        Path train = tmp.resolve("specs/train.yaml");
        Files.writeString(train, """
                name: uitest
                data:
                  prep: uitest
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                optimizer: {lr: 0.01, warmup_steps: 5}
                training: {steps: %d, batch_size: 8, log_every: %d}
                eval: {every: 30, batches: 2}
                checkpoints: {every: 30, keep: 1}
                seed: 5
                """.formatted(STEPS, LOG_EVERY));
        Path long_ = tmp.resolve("specs/long-train.yaml"); // runs until the driver presses Cancel
        Files.writeString(long_, """
                name: uitest-long
                data:
                  prep: uitest
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 100000, batch_size: 8, log_every: 10}
                eval: {every: 100000, batches: 2}
                checkpoints: {every: 100000, keep: 1}
                tracking: {experiment: uitest-cancel}
                """);
        Path ranks = tmp.resolve("specs/ranks-train.yaml"); // over 2 ranks, as the launch dialog asks
        Files.writeString(ranks, ranksSpecText("uitest-ranks"));
        Path bad = tmp.resolve("specs/bad-train.yaml");
        Files.writeString(bad, """
                name: bad
                data:
                  prep: uitest
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training:
                  stepz: 10
                """);
        // A small distillation experiment, run from the launch dialog and read in the Experiments view.
        String loop = """
                optimizer: {lr: 0.01, warmup_steps: 5}
                eval: {every: 10, batches: 2}
                checkpoints: {every: 20, keep: 1}
                seed: 7
                """;
        Files.writeString(tmp.resolve("specs/exp-teacher.yaml"), """
                name: uiexp-teacher
                data: {prep: uitest}
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 60, batch_size: 8, log_every: 5}
                """ + loop);
        Files.writeString(tmp.resolve("specs/exp-scratch.yaml"), """
                name: uiexp-scratch
                data: {prep: uitest}
                model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 20, batch_size: 8, log_every: 5}
                """ + loop);
        Files.writeString(tmp.resolve("specs/exp-student.yaml"), """
                name: uiexp-student
                teacher: experiment/uiexp/uiexp-teacher/model.ckpt
                data: {prep: uitest}
                student: {n_layer: 1, init: teacher}
                distillation: {temperature: 2.0, kd_ratio: 0.5}
                training: {steps: 20, batch_size: 8, log_every: 5}
                """ + loop);
        Path experiment = tmp.resolve("specs/experiment.yaml");
        Files.writeString(experiment, """
                name: uiexp
                teacher: exp-teacher.yaml
                scratch: exp-scratch.yaml
                students: [exp-student.yaml]
                """);
        Path clusterSpec = tmp.resolve("specs/cluster-train.yaml"); // over 2 ranks on the standalone cluster, by name
        Files.writeString(clusterSpec, ranksSpecText("uitest-cluster"));
        Path clusterLong = tmp.resolve("specs/cluster-long.yaml"); // cancelled on the cluster, then resumed
        Files.writeString(clusterLong, ranksSpecText("uitest-cluster-long").replace("steps: 8,", "steps: 200,")
                .replace("eval: {every: 8,", "eval: {every: 200,").replace("checkpoints: {every: 8, keep: 1}",
                        "checkpoints: {every: 10, keep: 2}"));
        Path report = tmp.resolve("report.json");
        Path screenshot = ROOT.resolve("product/ui-test/target/workbench-runs.png");
        Files.deleteIfExists(screenshot);

        Path log = tmp.resolve("workbench.log");
        Path restartReport = tmp.resolve("restart-report.json");
        Path restartLog = tmp.resolve("workbench-restart.log");
        Process app = null;
        String masterUrl;
        JsonNode masterStatus = null;
        String workFolder;
        List<String> hdfsCancelled;
        List<String> hdfsPrep;
        List<String> hdfsFinished;
        try (ProductUnderXvfb.Xvfb xvfb = ProductUnderXvfb.Xvfb.start(tmp.resolve("xvfb.log"));
             SparkDistribution.Cluster cluster = SparkDistribution.find().startCluster(tmp.resolve("cluster"), 2, 1,
                     "2g", false);
             Hdfs hdfs = new Hdfs(tmp.resolve("hdfs"))) {
            masterUrl = cluster.masterUrl();
            workFolder = hdfs.uri() + "/distillery"; // the cluster's, in Preferences
            ProcessBuilder pb = new ProcessBuilder(product.resolve("distillery-workbench").toString(), "-consoleLog")
                    .redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("DISPLAY", xvfb.name());
            pb.environment().put("DISTILLERY_HOME", ROOT.toString()); // the copy is not inside the checkout
            pb.environment().put("DISTILLERY_WORK_DIR", tmp.resolve("work").toString());
            pb.environment().put("DISTILLERY_WORKBENCH_DATA", tmp.resolve("workspace").toString());
            pb.environment().remove("MLFLOW_TRACKING_URI");
            pb.environment().put("DISTILLERY_WORKBENCH_VMARGS", String.join(" ",
                    "-Ddistillery.uitest.specs=" + prep + "," + train,
                    "-Ddistillery.uitest.report=" + report,
                    "-Ddistillery.uitest.badspec=" + bad,
                    "-Ddistillery.uitest.cancelspec=" + long_,
                    "-Ddistillery.uitest.ranksspec=" + ranks,
                    "-Ddistillery.uitest.checkpoint=" + tmp.resolve("work/train/uitest/model.ckpt"),
                    "-Ddistillery.uitest.screenshot=" + screenshot,
                    "-Ddistillery.uitest.compare=train-uitest,train-uitest-ranks",
                    "-Ddistillery.uitest.experimentspec=" + experiment,
                    "-Ddistillery.uitest.cluster=lab=" + cluster.masterUrl(),
                    "-Ddistillery.uitest.clusterworkfolder=" + workFolder,
                    "-Ddistillery.uitest.clusterprepspec=" + prep,
                    "-Ddistillery.uitest.clusterspec=" + clusterSpec,
                    "-Ddistillery.uitest.clusterlongspec=" + clusterLong,
                    "-Ddistillery.uitest.timeout=840"));
            app = pb.start();
            if (!app.waitFor(900, TimeUnit.SECONDS)) {
                fail("the workbench did not finish the script in 900 s; log:\n" + ProductUnderXvfb.tail(log));
            }
            masterStatus = cluster.status(); // what the standalone master says of the applications, before it stops
            hdfsFinished = hdfs.names("/distillery/train/uitest-cluster");
            hdfsPrep = hdfs.names("/distillery/prep/uitest");
            hdfsCancelled = hdfs.names("/distillery/train/uitest-cluster-long/checkpoints");
            // The same workspace started again: the layout and selections it closed with come back.
            pb.redirectOutput(restartLog.toFile());
            pb.environment().put("DISTILLERY_WORKBENCH_VMARGS", String.join(" ",
                    "-Ddistillery.uitest.restart=true", "-Ddistillery.uitest.report=" + restartReport,
                    "-Ddistillery.uitest.timeout=120"));
            app = pb.start();
            if (!app.waitFor(180, TimeUnit.SECONDS)) {
                fail("the restarted workbench did not finish in 180 s; log:\n" + ProductUnderXvfb.tail(restartLog));
            }
        } finally {
            if (app != null && app.isAlive()) {
                app.destroyForcibly();
            }
        }
        assertTrue(Files.exists(report), "the driver wrote no report; workbench log:\n" + ProductUnderXvfb.tail(log));
        JsonNode r = new ObjectMapper().readTree(report.toFile());
        assertEquals("ok", r.path("result").asText(), r.toPrettyString() + "\nworkbench log:\n"
                + ProductUnderXvfb.tail(log));

        JsonNode prepJob = r.path("jobs").get(0);
        assertEquals("prep (Spark)", prepJob.path("kind").asText(), "the dialog's guess for " + prep);
        assertEquals("FINISHED", prepJob.path("state").asText(), prepJob.toPrettyString());
        assertTrue(prepJob.path("progressUpdates").asInt() >= 2, "prep progress seen: " + prepJob.path("progressSeen"));
        assertTrue(prepJob.path("application").asText().startsWith("local-"), "the prep's Spark application: "
                + prepJob);
        assertEquals("local", prepJob.path("executors").asText());
        JsonNode trainJob = r.path("jobs").get(1);
        assertEquals("train", trainJob.path("kind").asText());
        assertEquals("FINISHED", trainJob.path("state").asText(), trainJob.toPrettyString());
        assertTrue(trainJob.path("progressUpdates").asInt() >= 3, "train progress seen: " + trainJob.path("progressSeen"));
        assertTrue(trainJob.path("progressSeen").toString().contains("100%  " + STEPS + "/" + STEPS + " steps"),
                trainJob.path("progressSeen").toString());
        assertTrue(trainJob.path("run").asText().startsWith("uitest / "), "run column: " + trainJob.path("run"));
        assertEquals("", trainJob.path("ranks").asText(), "a one-process run shows no ranks");
        System.out.printf("train job: %d progress updates, at most %d chart points while it ran%n",
                trainJob.path("progressUpdates").asInt(), trainJob.path("livePoints").asInt());
        assertTrue(trainJob.path("livePoints").asInt() > 0, "the chart showed no point while the job ran");
        // The status line follows the running job, and says when none is.
        assertTrue(strings(trainJob.path("statusSeen")).stream().anyMatch(l -> l.matches("1 job running: train"
                + " train\\.yaml \\d+%")), "status line while training: " + trainJob.path("statusSeen"));
        assertEquals("No jobs running", r.path("statusLine").asText());
        for (String view : List.of("Runs", "Datasets", "Experiments", "Exports", "Jobs", "Error Log")) {
            assertTrue(r.path("tabIcons").path(view).asBoolean(), view + " has an icon: " + r.path("tabIcons"));
        }

        List<String> runs = new ArrayList<>();
        r.path("runs").forEach(n -> runs.add(n.asText()));
        assertEquals(List.of("[x] train-uitest | uitest | FINISHED"), runs, "Runs view rows");
        assertEquals("train/loss", r.path("chart").path("title").asText());
        assertEquals(STEPS / LOG_EVERY, r.path("chart").path("series").path("uitest / train-uitest").asInt(),
                "points of train/loss in the chart: " + r.path("chart"));

        // Each launch was saved as a "Distillery job" launch configuration, named after its spec.
        assertEquals(List.of("prep prep | prep | prep.yaml", "train train | train | train.yaml"),
                strings(r.path("launchConfigurations")));

        // Run > Recent Launches lists them, newest first, and picking one runs it again.
        JsonNode relaunch = r.path("relaunch");
        assertEquals(List.of("train train", "prep prep"), strings(relaunch.path("items")));
        assertEquals(List.of(), strings(relaunch.path("withoutIcon")), "each launch configuration has its type's icon");
        assertEquals("prep prep.yaml (overwrite)", relaunch.path("job").asText());
        assertEquals("FINISHED", relaunch.path("state").asText(), relaunch.toPrettyString());

        // The spec editor: the engine's validation as a marker on the line, and a row in the problems table.
        JsonNode editor = r.path("editor");
        assertEquals(List.of(6), List.of(editor.path("markedLines").get(0).asInt()), editor.toPrettyString());
        assertEquals(1, editor.path("markedLines").size(), editor.toPrettyString());
        String problem = editor.path("problems").get(0).asText();
        assertTrue(problem.startsWith("[ ] 6 | training.stepz | unknown field 'stepz' in 'training' (did you mean"
                + " 'steps'?)"), problem);
        assertEquals("bad-train.yaml: 1 problem (train spec)", editor.path("status").asText());

        // The bad spec run as a job: it fails, the Error Log lists it with the file and line, and a double-click
        // opens the spec at that line.
        JsonNode errorLog = r.path("errorLog");
        assertEquals("FAILED", errorLog.path("state").asText(), errorLog.toPrettyString());
        assertTrue(errorLog.path("entry").asText().matches("\\[ \\] Error \\| .* \\| org\\.distillery\\.workbench \\| train"
                + " bad-train\\.yaml failed: " + java.util.regex.Pattern.quote(bad.toString()) + ":6: unknown field 'stepz'.*"),
                errorLog.toPrettyString());
        assertTrue(errorLog.path("detail").asText().contains(bad + ":6: unknown field 'stepz' in 'training'"),
                "the selected entry's detail: " + errorLog.path("detail"));
        assertEquals("bad-train.yaml", errorLog.path("opened").asText(), errorLog.toPrettyString());
        assertEquals(6, errorLog.path("selectedLine").asInt(), errorLog.toPrettyString());

        // Datasets: the catalogue with fetch state, the prep this test ran with its statistics, samples.
        JsonNode ds = r.path("datasets");
        assertTrue(strings(ds.path("datasets")).stream().anyMatch(s -> s.startsWith("[ ] nlp-corpus | json-sentences |"
                + " MIT | sample only | ")), ds.path("datasets").toString());
        assertTrue(strings(ds.path("preps")).stream().anyMatch(s -> s.startsWith("[ ] uitest | ")), ds.toString());
        assertTrue(strings(ds.path("filters")).stream().anyMatch(s -> s.startsWith("[ ] min_words | ")), ds.toString());
        assertTrue(strings(ds.path("filters")).stream().anyMatch(s -> s.startsWith("[ ] train tokens | ")), ds.toString());
        assertEquals(20, ds.path("samples").asInt(), "sample documents of nlp-corpus");

        // Exports: the trained checkpoint exported from the view, its provenance, the serving readers' checks.
        JsonNode ex = r.path("exports");
        List<String> exportRows = strings(ex.path("exports"));
        assertEquals(3, exportRows.size(), exportRows.toString());
        assertTrue(exportRows.get(0).startsWith("[ ] uitest | hf | ") && exportRows.get(1).startsWith("[ ] uitest | onnx")
                && exportRows.get(2).startsWith("[ ] uitest | gguf"), exportRows.toString());
        assertTrue(strings(ex.path("provenance")).contains("[ ] step | " + STEPS), ex.path("provenance").toString());
        List<String> checks = strings(ex.path("checks"));
        assertEquals(3, checks.size(), checks.toString());
        for (String c : checks) {
            assertTrue(c.contains(" | ok | "), "a serving reader disagreed: " + checks);
        }
        assertTrue(checks.get(0).contains("transformers") && checks.get(1).contains("onnxruntime"), checks.toString());
        // Scorecard on the GGUF row, as a Job whose progress the status line showed; the row holds its figures.
        String scored = ex.path("scored").asText();
        assertTrue(!scored.startsWith("error") && scored.matches("(?s).*\\| gguf \\|.*\\| [0-9.]+ \\| 100\\.0% \\| [0-9,]+ \\|.*"),
                scored + " after " + ex.path("scoreStatuses"));
        assertTrue(strings(ex.path("scoreStatuses")).stream().anyMatch(st -> st.startsWith("Scorecard: measuring 1/1 gguf")),
                ex.path("scoreStatuses").toString());

        // Cancel on a running training job: SIGTERM, a checkpoint, the run KILLED, the job CANCELLED; the view
        // learns it from the job's events and offers Resume.
        JsonNode cancel = r.path("cancel");
        assertEquals("CANCELLED", cancel.path("state").asText(), cancel.toPrettyString());
        assertTrue(cancel.path("consoleTail").asText().contains("Cancel: SIGTERM"), cancel.toPrettyString());
        assertTrue(cancel.path("consoleTail").asText().contains("on request"), "the job's own stop message: "
                + cancel.path("consoleTail").asText());
        assertTrue(cancel.path("resumeEnabled").asBoolean(), "Resume offered for the cancelled job");
        Path killed = tmp.resolve("work/train/uitest-long/checkpoints");
        assertTrue(Files.isDirectory(killed) && Files.list(killed).anyMatch(f -> f.toString().endsWith(".ckpt")),
                "the stopped job's checkpoint in " + killed);

        // The launch dialog's Ranks and Spark master: a train over 2 ranks (local[2]), its ranks in the Jobs view.
        JsonNode ranksJob = r.path("ranks");
        assertEquals("FINISHED", ranksJob.path("state").asText(), ranksJob.toPrettyString());
        assertEquals("train ranks-train.yaml (2 ranks)", ranksJob.path("label").asText());
        assertEquals("2", ranksJob.path("ranksWhileRunning").asText(), ranksJob.toPrettyString());
        assertEquals("2", ranksJob.path("ranks").asText());
        assertTrue(ranksJob.path("application").asText().startsWith("local-"), ranksJob.toPrettyString());
        assertTrue(Files.exists(tmp.resolve("work/train/uitest-ranks/model.ckpt")), "the 2-rank run's model");

        // A cluster named in Preferences, a training over 2 ranks launched on it by name: the Jobs view shows the
        // standalone master's application and its 2 executors while it runs.
        JsonNode onCluster = r.path("cluster");
        assertEquals(List.of("[ ] lab | " + masterUrl + " | " + workFolder), strings(onCluster.path("clusters")),
                "Preferences' clusters table");
        // A prep launched on it by name: the standalone master's application with its executors, output on HDFS.
        JsonNode clusterPrep = onCluster.path("prep");
        assertEquals("FINISHED", clusterPrep.path("state").asText(), clusterPrep.toPrettyString());
        assertTrue(strings(clusterPrep.path("applicationSeen")).stream().anyMatch(a -> a.matches("app-\\S+ \\| [12]")),
                "the prep's application and executors: " + clusterPrep.path("applicationSeen"));
        assertTrue(hdfsPrep.contains("manifest.json"), "the prep's output on HDFS: " + hdfsPrep);
        // The cluster's work folder on HDFS holds its jobs' outputs, as the engine lays out its work dir.
        assertTrue(hdfsFinished.contains("model.ckpt"), "the cluster run's output on HDFS: " + hdfsFinished);
        assertEquals("FINISHED", onCluster.path("state").asText(), onCluster.toPrettyString());
        assertEquals("2", onCluster.path("ranks").asText(), onCluster.toPrettyString());
        List<String> apps = strings(onCluster.path("applicationSeen"));
        assertTrue(apps.stream().anyMatch(a -> a.matches("app-\\S+ \\| 2")), "application and 2 executors: " + apps);

        // Cancel on the cluster: the driver stops, the ranks' application ends at the master, the run stops at a
        // checkpoint; Resume goes on from it in a new application, in the same run, to the end.
        JsonNode cc = r.path("clusterCancel");
        assertEquals("CANCELLED", cc.path("state").asText(), cc.toPrettyString());
        String cancelledApp = cc.path("application").asText();
        assertTrue(cancelledApp.startsWith("app-") && cc.path("executors").asText().equals("2"), cc.toPrettyString());
        assertTrue(cc.path("consoleTail").asText().contains("stopped on request"), cc.path("consoleTail").asText());
        assertEquals("KILLED", cc.path("runStatusAfterCancel").asText(), "the cancelled run's status: " + cc);
        assertEquals("FINISHED", cc.path("resumedState").asText(), cc.toPrettyString());
        assertTrue(cc.path("resumedApplication").asText().startsWith("app-")
                && !cc.path("resumedApplication").asText().equals(cancelledApp), cc.toPrettyString());
        assertEquals(cc.path("cancelledRun").asText(), cc.path("resumedRun").asText(), "the same run goes on");
        assertTrue(hdfsCancelled.stream().anyMatch(f -> f.endsWith(".ckpt")), "the cancelled and resumed run's"
                + " checkpoints on HDFS: " + hdfsCancelled);
        java.util.regex.Matcher first = java.util.regex.Pattern.compile("(\\d+)/200 steps")
                .matcher(cc.path("resumedFirstProgress").asText());
        assertTrue(first.find() && Integer.parseInt(first.group(1)) >= 10, "the resumed job starts from a checkpoint,"
                + " not step 0: " + cc.path("resumedFirstProgress"));
        List<String> activeApps = new ArrayList<>();
        masterStatus.path("activeapps").forEach(a -> activeApps.add(a.path("id").asText()));
        List<String> completed = new ArrayList<>();
        masterStatus.path("completedapps").forEach(a -> completed.add(a.path("id").asText()));
        assertTrue(completed.contains(cancelledApp) && !activeApps.contains(cancelledApp),
                "the cancelled application ended at the master: " + masterStatus);

        // Compare: the 60-step run against the 2-rank one, from the Runs view's ticks and the Compare command.
        JsonNode cmp = r.path("compare");
        assertTrue(cmp.path("compareEnabled").asBoolean(), cmp.toPrettyString());
        assertEquals(List.of("Param", "uitest / train-uitest", "uitest-ranks / train-uitest-ranks"),
                strings(cmp.path("paramColumns")));
        List<String> shaded = strings(cmp.path("shaded"));
        assertTrue(shaded.containsAll(List.of("training.steps", "distributed.ranks", "training.batch_size")),
                "differing params shaded: " + shaded);
        assertTrue(!shaded.contains("model.n_embd") && !shaded.contains("data.prep"), "equal params unshaded: " + shaded);
        assertTrue(strings(cmp.path("params")).contains("[ ] training.steps | " + STEPS + " | 8"),
                cmp.path("params").toString());
        assertTrue(cmp.path("differencesOnly").asInt() == shaded.size() && shaded.size() < cmp.path("params").size(),
                "Differences only leaves the " + shaded.size() + " shaded rows: " + cmp.path("differencesOnly"));
        String lossRow = strings(cmp.path("metrics")).stream().filter(m -> m.startsWith("[ ] train/loss |"))
                .findFirst().orElseThrow(() -> new AssertionError("no train/loss row: " + cmp.path("metrics")));
        String[] cells = lossRow.split(" \\| ");
        assertEquals(String.format(java.util.Locale.ROOT, "%.4f @ %d", lastLoss(tmp.resolve("work/runs"),
                "train-uitest"), STEPS), cells[1], lossRow);
        assertEquals(String.format(java.util.Locale.ROOT, "%.4f @ %d", lastLoss(tmp.resolve("work/runs"),
                "train-uitest-ranks"), 8), cells[3], lossRow);
        JsonNode series = cmp.path("chart");
        assertEquals((STEPS / LOG_EVERY) + " SOLID", series.path("uitest / train-uitest train/loss").asText(),
                series.toString());
        assertTrue(series.path("uitest / train-uitest val/loss").asText().endsWith(" DASH"), series.toString());
        assertEquals("uitest / train-uitest vs uitest-ranks / train-uitest-ranks", cmp.path("recent").get(0).asText(),
                "File > Recent Comparisons: " + cmp.path("recent"));

        // The Experiments view: the experiment's table, its scorecard in llama.cpp, and Show Run.
        JsonNode exp = r.path("experiment");
        assertEquals("FINISHED", exp.path("state").asText(), exp.toPrettyString());
        assertEquals("experiment", exp.path("kind").asText());
        List<String> experiments = strings(exp.path("experiments"));
        assertEquals(1, experiments.size(), experiments.toString());
        assertTrue(experiments.get(0).startsWith("[ ] uiexp | "), experiments.toString());
        List<String> members = strings(exp.path("members"));
        assertEquals(3, members.size(), members.toString());
        assertTrue(members.get(0).startsWith("[ ] teacher | uiexp-teacher | ")
                && members.get(1).startsWith("[ ] scratch | uiexp-scratch | ")
                && members.get(2).startsWith("[ ] student | uiexp-student | "), members.toString());
        assertTrue(members.get(2).endsWith("%"), "the student's gap closed: " + members.get(2));
        List<String> served = strings(exp.path("scorecard"));
        assertEquals(8, served.size(), "teacher and student at fp32, fp16, q8_0, q4_0: " + served);
        assertTrue(served.stream().allMatch(s -> s.contains("llama.cpp")), served.toString());
        assertTrue(strings(exp.path("runsAfterShowRun")).stream().anyMatch(s -> s.startsWith("[x] train-uiexp-teacher")),
                "Show Run ticks the teacher's run: " + exp.path("runsAfterShowRun"));

        // Closed and started again on the same workspace: e4's saved model brings back the sizes of the stacks,
        // the selected tab and the comparison editor, and each view's persisted state its selection and ticks.
        JsonNode closed = r.path("closedWith");
        assertEquals("55 / 45", closed.path("sizes").asText(), closed.toPrettyString());
        assertEquals(1, closed.path("editors").size(), "the comparison editor open at close: " + closed);
        assertTrue(strings(closed.path("ticked")).size() >= 2, "ticked runs at close: " + closed);
        assertTrue(closed.path("selectedRun").asText().startsWith("train-uiexp-teacher | "), closed.toPrettyString());
        assertTrue(closed.path("selectedExport").asText().startsWith("uitest | gguf | "), closed.toPrettyString());
        JsonNode restarted = new ObjectMapper().readTree(restartReport.toFile());
        assertEquals("ok", restarted.path("result").asText(), restarted.toPrettyString() + "\nlog:\n"
                + ProductUnderXvfb.tail(restartLog));
        assertEquals(closed, restarted.path("restored"), "the workbench closed with\n" + closed.toPrettyString()
                + "\nand came back with\n" + restarted.path("restored").toPrettyString());
        // The platform log holds what the researcher's jobs did (the bad spec's failure) and nothing of the
        // platform's own: no warning at start (a missing CSS theme was one), no error from a view or handler.
        for (Path l : List.of(log, restartLog)) {
            List<String> entries = Files.readAllLines(l).stream().filter(line -> line.startsWith("!ENTRY ")).toList();
            assertTrue(entries.stream().allMatch(e -> e.startsWith("!ENTRY org.distillery.workbench 4 ")),
                    l.getFileName() + ": " + entries + "\n" + ProductUnderXvfb.tail(l));
        }

        byte[] png = Files.readAllBytes(screenshot);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4), "not a PNG");
        assertTrue(png.length > 20_000, "a screenshot of " + png.length + " bytes is too small to show the views");
    }

    /** A short training for 2 ranks (batch 4 x accumulation 2), tracked under its own experiment. */
    private static String ranksSpecText(String name) {
        return """
                name: %s
                data:
                  prep: uitest
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 8, batch_size: 4, grad_accum: 2, log_every: 2}
                eval: {every: 8, batches: 2}
                checkpoints: {every: 8, keep: 1}
                tracking: {experiment: %s}
                """.formatted(name, name);
    }

    /** The last train/loss the engine logged for the run named {@code name}, read from the local run store. */
    private static double lastLoss(Path runs, String name) throws Exception {
        ObjectMapper json = new ObjectMapper();
        try (var metas = Files.walk(runs)) {
            for (Path meta : metas.filter(f -> f.getFileName().toString().equals("meta.json")).toList()) {
                if (!json.readTree(meta.toFile()).path("run_name").asText().equals(name)) {
                    continue;
                }
                double last = Double.NaN;
                long lastStep = -1;
                for (String line : Files.readAllLines(meta.resolveSibling("metrics.jsonl"))) {
                    JsonNode m = json.readTree(line);
                    if (m.path("key").asText().equals("train/loss") && m.path("step").asLong() >= lastStep) {
                        lastStep = m.path("step").asLong();
                        last = m.path("value").asDouble();
                    }
                }
                return last;
            }
        }
        throw new AssertionError("no run " + name + " in " + runs);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
