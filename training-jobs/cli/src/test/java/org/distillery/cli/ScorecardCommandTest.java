package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.TinyPrep;
import org.distillery.model.train.TokenWindows;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code distillery scorecard} on a teacher and its distilled student, as the demo makes them (GPT-2, a student of
 * half the depth initialized from the teacher), each exported as serving teams take it: the held-out loss that
 * llama.cpp, ONNX Runtime and transformers compute must be Distillery's own on the same windows.
 */
class ScorecardCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void theServingRuntimesScoreTheTeacherAndStudentOnTheSameWindows() throws Exception {
        Path data = TinyPrep.write(dir.resolve("prep"), 60, false);
        Path work = dir.resolve("work");
        Path teacherSpec = dir.resolve("teacher.yaml");
        Files.writeString(teacherSpec, """
                name: teacher
                data:
                  path: %s
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 32}
                training: {steps: 12, batch_size: 4, log_every: 4}
                eval: {every: 12, batches: 1}
                """.formatted(data));
        assertEquals(0, CliRun.of("--work-dir", work.toString(), "--progress=none", "train", teacherSpec.toString())
                .code());
        Path teacher = work.resolve("train/teacher/model.ckpt");
        Path studentSpec = dir.resolve("student.yaml");
        Files.writeString(studentSpec, """
                name: student
                teacher: %s
                data:
                  path: %s
                student: {n_layer: 1, init: teacher}
                distillation: {loss: forward_kl, temperature: 2.0, kd_ratio: 0.5}
                training: {steps: 8, batch_size: 4, log_every: 4}
                eval: {every: 8, batches: 1}
                """.formatted(teacher, data));
        assertEquals(0, CliRun.of("--work-dir", work.toString(), "--progress=none", "distill", studentSpec.toString())
                .code());
        Path student = work.resolve("distill/student/model.ckpt");

        Path exports = dir.resolve("export");
        export(teacher, "hf,onnx,gguf", "fp32", exports.resolve("teacher"));
        for (String d : List.of("fp16", "q8_0", "q4_0")) {
            export(teacher, "gguf", d, exports.resolve("teacher-" + d));
        }
        export(student, "gguf", "fp32", exports.resolve("student"));
        export(student, "gguf", "q8_0", exports.resolve("student-q8_0"));
        export(teacher, "onnx", "int8", exports.resolve("teacher-int8"));
        CliRun checked = CliRun.of("--progress=none", "exports", "check", exports.resolve("teacher-int8").toString(),
                "--python", RepoFixtures.python());
        assertEquals(0, checked.code(), "onnx int8 within its tolerance of the fp32 model: " + checked.out()
                + checked.err());

        Path report = dir.resolve("report");
        CliRun card = CliRun.of("--progress=json", "scorecard", exports.resolve("teacher").toString(),
                exports.resolve("teacher-fp16").toString(), exports.resolve("teacher-q8_0").toString(),
                exports.resolve("teacher-q4_0").toString(), exports.resolve("student").toString(),
                exports.resolve("student-q8_0").toString(), exports.resolve("teacher-int8").toString(), "--prep", data.toString(), "--teacher",
                exports.resolve("teacher/gguf").toString(), "--report", report.toString(), "--windows", "12",
                "--rounds", "1", "--threads", "2", "--python", RepoFixtures.python());
        assertEquals(0, card.code(), card.err());
        JsonNode sc = JSON.readTree(report.resolve("scorecard.json").toFile());
        assertEquals(Scorecard.FORMAT, sc.get("format").asText());
        sc = sc.get("scorecard");
        assertEquals(12, sc.get("windows").asInt());
        assertEquals(32, sc.get("window").asInt());
        assertEquals(2, sc.get("threads").asInt());
        assertEquals("teacher/gguf fp32", sc.get("reference").asText());
        Map<String, JsonNode> rows = new HashMap<>();
        for (JsonNode r : sc.get("rows")) {
            rows.put(r.get("label").asText(), r);
        }
        assertEquals(9, rows.size(), rows.keySet().toString());

        // The runtimes' held-out loss is Distillery's on the same windows: fp32 to rounding, quantized close to it.
        double teacherLoss = distilleryLoss(teacher, data, 12);
        double studentLoss = distilleryLoss(student, data, 12);
        for (String fp32 : List.of("teacher/hf fp32", "teacher/onnx fp32", "teacher/gguf fp32")) {
            assertEquals(teacherLoss, rows.get(fp32).get("loss").asDouble(), 1e-4, fp32 + ": " + rows.get(fp32));
            assertEquals("teacher", rows.get(fp32).get("role").asText());
        }
        assertTrue(rows.get("teacher/hf fp32").get("runtime").asText().startsWith("transformers "));
        assertTrue(rows.get("teacher/onnx fp32").get("runtime").asText().startsWith("onnxruntime "));
        assertTrue(rows.get("teacher/gguf fp32").get("runtime").asText().startsWith("llama.cpp "));
        assertEquals(studentLoss, rows.get("student fp32").get("loss").asDouble(), 1e-4);
        assertEquals(teacherLoss, rows.get("teacher-fp16").get("loss").asDouble(), 5e-3);
        assertEquals(teacherLoss, rows.get("teacher-q8_0").get("loss").asDouble(), 2e-2);
        assertEquals(teacherLoss, rows.get("teacher-q4_0").get("loss").asDouble(), 1e-1);
        assertEquals(studentLoss, rows.get("student-q8_0").get("loss").asDouble(), 2e-2);
        assertEquals(teacherLoss, rows.get("teacher-int8").get("loss").asDouble(), 2e-2);
        assertTrue(rows.get("teacher-int8").get("bytes").asLong() < rows.get("teacher/onnx fp32").get("bytes").asLong());
        assertEquals("student", rows.get("student-q8_0").get("role").asText());
        assertEquals("teacher", rows.get("teacher-q4_0").get("role").asText(), "the teacher's run, quantized");
        assertEquals(1.0, rows.get("teacher/gguf fp32").get("quality_retained").asDouble(), 1e-12);
        double uniform = Math.log(257);
        assertEquals((uniform - studentLoss) / (uniform - teacherLoss),
                rows.get("student fp32").get("quality_retained").asDouble(), 1e-3);

        // Cost: smaller files for smaller types, the sizes and parameter counts of the models themselves.
        long[] bytes = {rows.get("teacher/gguf fp32").get("bytes").asLong(), rows.get("teacher-fp16").get("bytes")
                .asLong(), rows.get("teacher-q8_0").get("bytes").asLong(), rows.get("teacher-q4_0").get("bytes").asLong()};
        for (int i = 1; i < bytes.length; i++) {
            assertTrue(bytes[i] < bytes[i - 1], java.util.Arrays.toString(bytes));
        }
        GptConfig t = Checkpoint.readHeader(teacher).model();
        GptConfig s = Checkpoint.readHeader(student).model();
        assertEquals(t.parameterCount(), rows.get("teacher-q8_0").get("parameters").asLong());
        assertEquals(s.parameterCount(), rows.get("student fp32").get("parameters").asLong());
        assertEquals(s.parameterCount() - 257L * 32 - 32L * 32,
                rows.get("student fp32").get("non_embedding_parameters").asLong());
        for (JsonNode r : sc.get("rows")) {
            assertEquals(2, r.get("speeds").size(), r.toString());
            assertArrayEquals(new int[] {1, 4}, new int[] {r.get("speeds").get(0).get("batch").asInt(),
                r.get("speeds").get(1).get("batch").asInt()});
            for (JsonNode speed : r.get("speeds")) {
                assertTrue(speed.get("prompt_tokens_per_s").asDouble() > 0 && speed.get("generate_tokens_per_s")
                        .asDouble() > 0 && speed.get("cpu_seconds_per_million_tokens").asDouble() > 0, speed.toString());
            }
            assertTrue(r.get("peak_rss_bytes").asLong() > r.get("baseline_rss_bytes").asLong(), r.toString());
        }

        // The table on stdout and in the report, the plot, and each export's own row beside it.
        assertTrue(card.out().contains("| teacher-q4_0 | teacher | gguf q4_0 | llama.cpp |"), card.out());
        assertFalse(card.out().contains("\"schema\""), "events go to stderr: " + card.out());
        assertTrue(card.err().contains("\"job\":\"scorecard\""), card.err());
        assertTrue(Files.readString(report.resolve("scorecard.md")).contains("![held-out loss against cost]"));
        byte[] png = Files.readAllBytes(report.resolve("scorecard.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
        JsonNode beside = JSON.readTree(exports.resolve("student-q8_0/scorecard.json").toFile()).get("scorecard");
        assertEquals(1, beside.get("rows").size());
        assertEquals("student-q8_0", beside.get("rows").get(0).get("label").asText());

        // An export whose tokenizer is not the prep's: refused, naming both SHA-256s.
        Path other = TinyPrep.write(dir.resolve("other-prep"), 60, true);
        CliRun wrong = CliRun.of("--progress=none", "scorecard", exports.resolve("student").toString(), "--prep",
                other.toString(), "--python", RepoFixtures.python());
        assertEquals(2, wrong.code(), wrong.err());
        String mine = Checkpoint.readHeader(student).tokenizer().sha256();
        String theirs = ShardManifest.read(other).tokenizer().sha256();
        assertTrue(wrong.err().contains(mine) && wrong.err().contains(theirs), wrong.err());
        assertTrue(wrong.err().contains(exports.resolve("student/model.gguf").toString()), wrong.err());
        assertFalse(wrong.err().contains("\tat "), "no stack trace: " + wrong.err());
    }

    private static void export(Path ckpt, String formats, String dtype, Path out) {
        CliRun r = CliRun.of("--progress=none", "export", ckpt.toString(), "--format", formats, "--dtype", dtype,
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
    }

    /** Distillery's own mean loss on the windows the scorecard measures. */
    private static double distilleryLoss(Path ckpt, Path data, int count) throws Exception {
        Checkpoint c = Checkpoint.read(ckpt);
        Gpt gpt = new Gpt(GptParameters.wrap(c.header().model(), c.section(Checkpoint.PARAMS)));
        int time = c.header().model().blockSize();
        double sum = 0;
        List<int[]> windows;
        try (TokenWindows val = TokenWindows.open(data, ShardManifest.read(data), "val")) {
            windows = Scorecard.windows(val, time, count);
        }
        for (int[] w : windows) {
            sum += gpt.loss(new Gpt.Batch(java.util.Arrays.copyOf(w, time), java.util.Arrays.copyOfRange(w, 1,
                    time + 1), 1, time));
        }
        return sum / windows.size();
    }
}
