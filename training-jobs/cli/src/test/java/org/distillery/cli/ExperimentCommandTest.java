package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.model.TinyPrep;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.tracking.MlflowServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experiment pipeline in its fast configuration: a tiny teacher, a scratch student and a distilled
 * student on the tiny grammar, nested under one parent run on a real MLflow server, with the report.
 */
class ExperimentCommandTest {
    @TempDir
    static Path dir;

    static void write(String name, String yaml) throws Exception {
        Files.writeString(dir.resolve(name), yaml);
    }

    @Test
    void runsTheThreeModelsUnderOneParentAndReportsTheGapClosed() throws Exception {
        Path data = TinyPrep.write(dir.resolve("prep"), 200, false);
        Path work = dir.resolve("work");
        String loop = """
                optimizer: {lr: 0.01, warmup_steps: 5}
                eval: {every: 10, batches: 2}
                checkpoints: {every: 20, keep: 1}
                seed: 7
                """;
        // The teacher trains until its validation loss stops bettering (at most 600 steps).
        write("teacher.yaml", """
                name: t
                data: {path: %s}
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 600, batch_size: 8, log_every: 5}
                """.formatted(data) + loop.replace("eval: {every: 10, batches: 2}",
                "eval: {every: 10, batches: 2, patience: 3, min_delta: 0.01}"));
        write("scratch.yaml", """
                name: s
                data: {path: %s}
                model: {n_layer: 1, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 20, batch_size: 8, log_every: 5}
                """.formatted(data) + loop);
        String student = """
                name: kd
                teacher: experiment/tiny/t/model.ckpt
                data: {path: %s}
                student: {n_layer: 1, init: teacher}
                distillation: {temperature: 2.0, kd_ratio: 0.5}
                training: {steps: 20, batch_size: 8, log_every: 5}
                """.formatted(data) + loop;
        write("student.yaml", student);
        write("experiment.yaml", """
                name: tiny
                teacher: teacher.yaml
                scratch: scratch.yaml
                students: [student.yaml]
                """);
        Path spec = dir.resolve("experiment.yaml");

        // An unfair comparison is refused before anything trains, naming the spec and field.
        write("student.yaml", student.replace("steps: 20, batch_size: 8", "steps: 30, batch_size: 8"));
        CliRun budget = CliRun.of("--work-dir", work.toString(), "experiment", spec.toString());
        assertEquals(2, budget.code());
        assertTrue(budget.err().contains("student.yaml:6: training gives the student 7680 training tokens"),
                budget.err());
        write("student.yaml", student.replace("n_layer: 1, init", "n_layer: 2, init"));
        CliRun shape = CliRun.of("--work-dir", work.toString(), "experiment", spec.toString());
        assertTrue(shape.err().contains("scratch.yaml:3: model is n_layer 1, n_head 2, n_embd 32, block_size 32, but "
                + dir.resolve("student.yaml") + " distills into n_layer 2"), shape.err());
        write("student.yaml", student.replace("experiment/tiny/t/model.ckpt", "train/t/model.ckpt"));
        CliRun teacher = CliRun.of("--work-dir", work.toString(), "experiment", spec.toString());
        assertTrue(teacher.err().contains("student.yaml:2: teacher is train/t/model.ckpt, but this experiment"),
                teacher.err());
        assertTrue(!Files.exists(work.resolve("experiment/tiny/t")), "nothing trained");
        write("student.yaml", student);

        try (MlflowServer server = new MlflowServer(dir.resolve("mlflow")).start()) {
            CliRun r = CliRun.of("--work-dir", work.toString(), "--progress=none", "--tracking-uri", server.uri(),
                    "experiment", spec.toString(), "--python", RepoFixtures.python());
            assertEquals(0, r.code(), r.err());
            Path out = work.resolve("experiment/tiny");
            assertTrue(r.out().contains("| kd | student |"), r.out());
            assertTrue(r.out().contains("report         " + out.resolve("report.md")), r.out());

            JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
            JsonNode rows = report.get("rows");
            assertEquals(3, rows.size());
            double t = rows.get(0).get("held_out_loss").asDouble();
            double s = rows.get(1).get("held_out_loss").asDouble();
            double kd = rows.get(2).get("held_out_loss").asDouble();
            assertTrue(t < s, "the teacher beats the scratch student: " + t + " vs " + s);
            assertEquals((s - kd) / (s - t), rows.get(2).get("gap_closed").asDouble(), 1e-9);
            assertTrue(kd < s, "the distilled student beats the scratch one at the same budget: " + kd + " vs " + s);
            assertEquals(20L * 8 * 32, rows.get(1).get("train_tokens").asLong());
            assertEquals(rows.get(1).get("train_tokens"), rows.get(2).get("train_tokens"));
            BufferedImage png = ImageIO.read(out.resolve("loss-curves.png").toFile());
            assertEquals(List.of(960, 560), List.of(png.getWidth(), png.getHeight()));
            assertTrue(Files.readString(out.resolve("report.md")).contains("![loss curves](loss-curves.png)"));

            // The teacher stopped on its own, its epochs reported; sizes without the embeddings beside the totals.
            long trainSplit = ShardManifest.read(data).tokens("train");
            long teacherTokens = rows.get(0).get("train_tokens").asLong();
            assertTrue(teacherTokens < 600L * 8 * 32, "the stopping rule ended the teacher before 600 steps: "
                    + teacherTokens);
            assertEquals((double) teacherTokens / trainSplit, rows.get(0).get("epochs").asDouble(), 1e-9);
            assertEquals(rows.get(0).get("parameters").asLong() - 257L * 32 - 32L * 32,
                    rows.get(0).get("non_embedding_parameters").asLong());
            assertTrue(r.out().contains("| t | teacher | "), r.out());

            // The scorecard: the teacher and the headline student at fp32, fp16, q8_0 and q4_0, run by llama.cpp.
            JsonNode card = report.get("scorecard");
            assertEquals(8, card.get("rows").size(), report.toString());
            assertEquals("t-fp32", card.get("reference").asText());
            for (JsonNode row : card.get("rows")) {
                assertTrue(row.get("runtime").asText().startsWith("llama.cpp "), row.toString());
                assertEquals(row.get("label").asText().startsWith("t-") ? "teacher" : "student",
                        row.get("role").asText());
            }
            assertEquals(1.0, card.get("rows").get(0).get("quality_retained").asDouble(), 1e-12);
            String md = Files.readString(out.resolve("report.md"));
            assertTrue(md.contains("## Serving cost") && md.contains("| kd-q4_0 | student | gguf q4_0 | llama.cpp |")
                    && md.contains("![held-out loss against serving cost](scorecard.png)"), md);
            assertTrue(Files.size(out.resolve("scorecard.png")) > 0);
            assertTrue(Files.isRegularFile(out.resolve("exports/kd-q8_0/scorecard.json")));

            // One parent, three children, on the server as in the local store.
            LocalRunStore store = new LocalRunStore(work.resolve("runs"));
            String parentId = new ObjectMapper().readTree(out.resolve("experiment.json").toFile())
                    .get("parent_run_id").asText();
            LocalRunStore.Meta parent = store.find(parentId);
            assertEquals("FINISHED", parent.status());
            List<LocalRunStore.Meta> children = new ArrayList<>();
            for (LocalRunStore.Meta m : store.list()) {
                if (parentId.equals(m.parentRunId())) {
                    children.add(m);
                }
            }
            assertEquals(List.of("train-t", "train-s", "distill-kd"), children.stream()
                    .sorted(java.util.Comparator.comparing(LocalRunStore.Meta::startTime)).map(LocalRunStore.Meta::runName)
                    .toList());
            for (LocalRunStore.Meta c : children) {
                JsonNode tags = server.get("/api/2.0/mlflow/runs/get", "run_id", c.mlflowRunId()).path("run").path("data")
                        .path("tags");
                String onServer = null;
                for (JsonNode tag : tags) {
                    if (tag.get("key").asText().equals("mlflow.parentRunId")) {
                        onServer = tag.get("value").asText();
                    }
                }
                assertEquals(parent.mlflowRunId(), onServer, c.runName() + " nests under the parent on MLflow");
            }
            String listed = server.get("/api/2.0/mlflow/artifacts/list", "run_id", parent.mlflowRunId(), "path", "report")
                    .toString();
            assertTrue(listed.contains("report/loss-curves.png"), "the report is the parent's artifact: " + listed
                    + " " + store.artifacts(parent));

            // Run again: everything is finished, so nothing retrains and the parent stays the same.
            CliRun again = CliRun.of("--work-dir", work.toString(), "--progress=none", "--tracking-uri", server.uri(),
                    "experiment", spec.toString(), "--python", RepoFixtures.python());
            assertEquals(0, again.code(), again.err());
            assertEquals(parentId, new ObjectMapper().readTree(out.resolve("experiment.json").toFile())
                    .get("parent_run_id").asText());
            assertEquals(4, store.list().size(), "no new runs: " + store.list());
        }
    }
}
