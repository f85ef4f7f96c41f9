package org.distillery.workbench.core.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experiments under a work folder, read from their {@code report.json} (the shape {@code distillery experiment}
 * writes; the UI test reads a real one), and the errors of damaged reports.
 */
class ExperimentResultTest {
    @TempDir
    Path tmp;

    private static final String REPORT = """
            {"name": "kd", "goal": 0.5, "goal_met": true, "rows": [
              {"role": "TEACHER", "name": "kd-teacher", "parameters": 1325824, "non_embedding_parameters": 793344,
               "train_tokens": 11328000, "epochs": 2.79, "held_out_loss": 4.5302, "held_out_tokens": 223232,
               "val_loss": 4.63, "run_id": "a801", "gap_closed": null},
              {"role": "SCRATCH", "name": "kd-scratch", "parameters": 929280, "non_embedding_parameters": 396800,
               "train_tokens": 614400, "epochs": 0.15, "held_out_loss": 5.8438, "held_out_tokens": 223232,
               "val_loss": 5.85, "run_id": "9527", "gap_closed": null},
              {"role": "STUDENT", "name": "kd-student", "parameters": 929280, "non_embedding_parameters": 396800,
               "train_tokens": 614400, "epochs": 0.15, "held_out_loss": 4.6434, "held_out_tokens": 223232,
               "val_loss": 4.74, "run_id": "b98a", "gap_closed": 0.9138}],
             "scorecard": {"threads": 2, "rows": [
              {"label": "kd-student-q4_0", "role": "student", "path": "/x/exports/kd-student-q4_0", "format": "gguf",
               "dtype": "q4_0", "bytes": 700000, "runtime": "llama.cpp", "loss": 4.70, "quality_retained": 0.967,
               "speeds": [{"batch": 1, "generate_tokens_per_s": 2252.0}, {"batch": 4, "generate_tokens_per_s": 5000.0}]}]},
             "scorecard_problem": null}
            """;

    @Test
    void readsTheExperimentsOfAWorkFolder() throws Exception {
        Path kd = Files.createDirectories(tmp.resolve("experiment/kd"));
        Files.writeString(kd.resolve("report.json"), REPORT);
        Files.write(kd.resolve("loss-curves.png"), new byte[] {1});
        Files.createDirectories(tmp.resolve("experiment/running")); // no report yet: not listed
        ExperimentResult.Listing l = ExperimentResult.list(tmp);
        assertEquals(List.of(), l.problems());
        assertEquals(1, l.experiments().size());
        ExperimentResult e = l.experiments().get(0);
        assertEquals("kd", e.name());
        assertTrue(e.goalMet());
        assertEquals(List.of("teacher", "scratch", "student"), e.members().stream().map(ExperimentResult.Member::role)
                .toList());
        assertEquals(0.9138, e.headline().gapClosed());
        assertNull(e.members().get(0).gapClosed());
        assertEquals(793344, e.members().get(0).nonEmbeddingParameters());
        assertEquals(kd.resolve("loss-curves.png"), e.plot());
        assertNull(e.scorecardPlot(), "no scorecard.png in the folder");
        ExperimentResult.Served q4 = e.served().get(0);
        assertEquals(2252.0, q4.generatePerS(), "batch 1's generation speed");
        assertEquals(Path.of("/x/exports/kd-student-q4_0"), q4.path());
    }

    @Test
    void aDamagedReportIsListedAsAProblemNamingItsFileAndField() throws Exception {
        Path bad = Files.createDirectories(tmp.resolve("experiment/bad"));
        Files.writeString(bad.resolve("report.json"), REPORT.replace("\"held_out_loss\": 4.6434", "\"held_out_loss\": \"x\""));
        Path cut = Files.createDirectories(tmp.resolve("experiment/cut"));
        Files.writeString(cut.resolve("report.json"), REPORT.substring(0, 100));
        ExperimentResult.Listing l = ExperimentResult.list(tmp);
        assertEquals(List.of(), l.experiments());
        assertEquals(2, l.problems().size(), l.problems().toString());
        assertTrue(l.problems().get(0).startsWith(bad.resolve("report.json") + ": field 'held_out_loss' is \"x\","
                + " expected a number"), l.problems().get(0));
        assertTrue(l.problems().get(1).startsWith(cut.resolve("report.json") + ": not a report.json"),
                l.problems().get(1));
    }
}
