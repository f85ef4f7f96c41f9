package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import org.distillery.model.TinyPrep;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code runs list}, {@code runs show} and {@code exports list} as people and scripts read them. */
class ListingsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path work;
    static Path output;

    @BeforeAll
    static void aFinishedRunAndTwoExports() throws Exception {
        Path prep = TinyPrep.write(dir.resolve("prep"), 20, false);
        Path spec = TinySpecs.train(dir, "listed", prep, 4, 2);
        work = dir.resolve("work");
        CliRun train = CliRun.of("--work-dir", work.toString(), "--progress=none", "train", spec.toString());
        assertEquals(0, train.code(), train.err());
        output = work.resolve("train/listed");
        // An export named hf (README's first example) beside one with a subfolder per format.
        assertEquals(0, CliRun.of("--work-dir", work.toString(), "--progress=none", "export", output.toString(),
                "--format", "hf", "--out", work.resolve("export/hf").toString()).code());
        assertEquals(0, CliRun.of("--work-dir", work.toString(), "--progress=none", "export", output.toString(),
                "--format", "onnx,gguf", "--out", work.resolve("export/demo").toString()).code());
    }

    private static CliRun run(String... args) {
        List<String> all = new java.util.ArrayList<>(List.of("--work-dir", work.toString()));
        all.addAll(List.of(args));
        return CliRun.of(all.toArray(String[]::new));
    }

    @Test
    void runsListShowsTimesStatusLossesAndOutput() throws Exception {
        CliRun r = run("runs", "list");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        assertTrue(lines.get(0).matches("RUN +EXPERIMENT +NAME +STATUS +STARTED +DURATION +TRAIN LOSS +VAL LOSS +OUTPUT"
                + " +MLFLOW"), lines.get(0));
        assertTrue(lines.get(1).matches("[0-9a-f]{32} +listed +train-listed +FINISHED +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d"
                + ":\\d\\d +\\d+s +\\d+\\.\\d{4} +\\d+\\.\\d{4} +" + java.util.regex.Pattern.quote(output.toString())
                + " +not synced"), lines.get(1));

        JsonNode json = JSON.readTree(run("runs", "list", "--json").out());
        assertEquals(RunsCommand.LIST_FORMAT, json.get("format").asText());
        JsonNode one = json.get("runs").get(0);
        assertEquals("FINISHED", one.get("status").asText());
        assertEquals(output.toString(), one.get("output").asText());
        assertEquals(4, one.get("metrics").get("train/loss").get("step").asLong());
        assertEquals(2, one.get("metrics").get("train/loss").get("points").asInt());
        assertTrue(one.get("duration_s").asDouble() > 0, one.toString());
    }

    @Test
    void runsShowPrintsParamsMetricsAndArtifactsOfOneRun() throws Exception {
        String id = JSON.readTree(run("runs", "list", "--json").out()).get("runs").get(0).get("run_id").asText();
        CliRun r = run("runs", "show", id.substring(0, 6));
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        assertTrue(out.startsWith("run            " + id + "\n"), out);
        assertTrue(out.contains("\nstatus         FINISHED\n"), out);
        assertTrue(out.matches("(?s).*\nparams\n.*  training\\.steps +4\n.*"), out);
        assertTrue(out.matches("(?s).*\nmetrics \\(last value, its step, points logged\\)\n.*  train/loss +[0-9.]+ at step"
                + " 4 \\(2\\)\n.*"), out);
        assertTrue(out.matches("(?s).*\nartifacts\n.*  model/model\\.ckpt +[0-9.]+ KiB\n.*"), out);
        JsonNode json = JSON.readTree(run("runs", "show", id, "--json").out());
        assertEquals("4", json.get("params").get("training.steps").asText());
        assertTrue(json.get("artifacts").toString().contains("model/model.ckpt"), json.toString());

        CliRun missing = run("runs", "show", "zzz");
        assertEquals(2, missing.code());
        assertEquals(List.of("error: no run zzz in " + work.resolve("runs") + "; runs list shows the ones there"),
                missing.err().lines().toList());
    }

    @Test
    void exportsListShowsEveryExportWithAHeaderAndSizesPeopleRead() {
        CliRun r = run("exports", "list");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).matches("EXPORT +FORMAT +DTYPE +SIZE +RUN +STEP +PATH"), lines.get(0));
        assertEquals(List.of("demo onnx", "demo gguf", "hf hf"), lines.subList(1, lines.size()).stream()
                .map(l -> String.join(" ", List.of(l.split(" +")).subList(0, 2))).toList(), r.out());
        assertTrue(lines.get(1).matches("demo +onnx +fp32 +[0-9.]+ KiB +[0-9a-f]{32} +4 +.*model\\.onnx"), lines.get(1));

        CliRun one = run("exports", "list", work.resolve("export/demo").toString());
        assertEquals(3, one.out().lines().count(), "one export with two formats: " + one.out());
    }

    @Test
    void anEmptyWorkFolderSaysWhichOneItIs() {
        Path elsewhere = dir.resolve("elsewhere");
        CliRun runs = CliRun.of("--work-dir", elsewhere.toString(), "runs", "list");
        assertEquals(0, runs.code());
        assertEquals("", runs.out());
        assertEquals(List.of("note: no runs in " + elsewhere.resolve("runs") + "; the work folder is " + elsewhere
                + " (given by --work-dir; --work-dir or $DISTILLERY_WORK_DIR choose another)"), runs.err().lines().toList());
        CliRun exports = CliRun.of("--work-dir", elsewhere.toString(), "exports", "list");
        assertEquals(0, exports.code());
        assertEquals("", exports.out());
        assertTrue(exports.err().startsWith("note: no exports: " + elsewhere.resolve("export") + " does not exist; the"
                + " work folder is " + elsewhere), exports.err());
        CliRun named = CliRun.of("exports", "list", elsewhere.resolve("nope").toString());
        assertEquals(2, named.code());
        assertEquals(List.of("error: " + elsewhere.resolve("nope") + ": no such folder"), named.err().lines().toList());
    }
}
