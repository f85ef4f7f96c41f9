package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.tracking.MlflowServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line as a user runs it: exit codes, stdout for results and events, stderr for errors. */
class DistilleryCommandTest {
    @TempDir
    Path dir;

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
            new com.fasterxml.jackson.databind.ObjectMapper();

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void badSpecIsExitCodeTwoWithTheMessageOnStderr() throws Exception {
        Path spec = dir.resolve("bad.yaml");
        Files.writeString(spec, "name: x\nsources:\n  - path: a.txt\n    format: text\nfilterz: {}\n");
        CliRun r = run("--progress=json", "prep", spec.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: " + spec + ":5: unknown field 'filterz'"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void prepWritesJsonProgressEventsOnStderrResultsOnStdoutAndTheShardsVerify() throws Exception {
        Path spec = dir.resolve("prep.yaml");
        Files.writeString(spec, """
                name: cli
                sources:
                  - path: %s
                    format: json-sentences
                tokenizer:
                  vocab_size: 400
                spark:
                  master: local[2]
                  partitions: 2
                """.formatted(RepoFixtures.datasets().resolve("nlp-corpus/sample")));
        Path out = dir.resolve("out");
        CliRun r = run("--progress=json", "--datasets", RepoFixtures.datasets().toString(), "prep", spec.toString(),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        // Progress events on stderr (Spark's log lines between them), the results on stdout.
        List<ProgressEvent> events = r.err().lines().filter(l -> l.startsWith("{"))
                .map(ProgressEvent::parse).toList();
        // First the Spark application it runs in (local: no executors, no web UI), then its stages.
        ProgressEvent.Cluster app = (ProgressEvent.Cluster) events.get(0);
        assertTrue(app.application().startsWith("local-") && app.master().equals("local[2]") && app.executors() == 0
                && app.ui() == null, app.toString());
        assertEquals("stage", events.get(1).type());
        assertEquals("read", ((ProgressEvent.Stage) events.get(1)).stage());
        ProgressEvent last = events.get(events.size() - 1);
        assertEquals("done", last.type());
        assertEquals(out.toAbsolutePath().toString(), ((ProgressEvent.Done) last).output());
        assertTrue(r.out().startsWith("output        " + out.toAbsolutePath() + "\n"), r.out());
        assertFalse(r.out().contains("{"), "no events among the results: " + r.out());

        CliRun verify = run("shards", "verify", out.toString());
        assertEquals(0, verify.code(), verify.err());
        assertTrue(verify.out().contains(": ok, train "), verify.out());

        CliRun encode = run("tokenizer", "encode", "--tokenizer", out.resolve("tokenizer.json").toString(), "a<|endoftext|>");
        assertEquals(0, encode.code(), encode.err());
        assertTrue(encode.out().strip().endsWith(" 0"), "end-of-text is id 0: " + encode.out());
    }

    /** Trains a tiny GPT-2 of {@code layers} blocks for 4 steps with {@code distillery train}; its model. */
    private Path trainTiny(Path work, String name, Path data, int layers) throws Exception {
        Path spec = dir.resolve(name + ".yaml");
        Files.writeString(spec, """
                name: %s
                data:
                  path: %s
                model: {n_layer: %d, n_head: 2, n_embd: 16, block_size: 16}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """.formatted(name, data, layers));
        assertEquals(0, run("--work-dir", work.toString(), "--progress=none", "train", spec.toString()).code());
        return work.resolve("train").resolve(name).resolve("model.ckpt");
    }

    /** train, then export in two formats (logged to the run), then import the hf folder: the same weights. */
    @Test
    void exportWritesEveryFormatLogsItToTheRunAndImportReadsItBack() throws Exception {
        Path data = org.distillery.model.TinyPrep.write(dir.resolve("prep"), 40, false);
        Path work = dir.resolve("work");
        Path model = trainTiny(work, "tiny", data, 1);
        Path out = dir.resolve("exports");

        // Each format in the nearest type it holds to the one asked, and said; not logged to the run when asked so.
        Path mixed = dir.resolve("mixed");
        CliRun nearest = run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format",
                "hf,onnx,gguf", "--dtype", "bf16", "--out", mixed.toString(), "--no-log-to-run");
        assertEquals(0, nearest.code(), nearest.err());
        assertEquals(List.of("note: onnx is written in fp32, the nearest it holds to bf16",
                "note: gguf is written in fp16, the nearest it holds to bf16"), nearest.err().lines().toList());
        assertEquals(List.of("export         " + mixed.resolve("hf") + " (bf16)",
                "export         " + mixed.resolve("onnx") + " (fp32)",
                "export         " + mixed.resolve("gguf") + " (fp16)"), nearest.out().lines().toList());
        assertEquals(org.distillery.export.TensorType.BF16, org.distillery.export.SafetensorsFile.open(
                mixed.resolve("hf/model.safetensors")).entries().values().iterator().next().type());
        assertEquals(1, org.distillery.export.GgufFile.open(mixed.resolve("gguf/model.gguf")).tensors().values()
                .iterator().next().type(), "ggml type 1, F16");

        // A quantization the format does not hold, or no dtype at all, is an error before anything is written; q8_0
        // of a model 16 wide leaves every matrix in f16 (no row is a whole 32-value block), as llama.cpp would, and says so.
        CliRun refused = run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format",
                "hf,gguf", "--dtype", "q4_0", "--out", dir.resolve("refused").toString());
        assertEquals(2, refused.code(), refused.err());
        assertTrue(refused.err().contains("--dtype q4_0 is not a dtype hf holds (fp32, fp16 or bf16)"), refused.err());
        assertFalse(Files.exists(dir.resolve("refused")));
        CliRun unknown = run("--work-dir", work.toString(), "export", model.toString(), "--format", "gguf", "--dtype",
                "q3_k", "--out", dir.resolve("unknown").toString());
        assertTrue(unknown.err().contains("unknown dtype 'q3_k': expected fp32, fp16, bf16, q8_0, q4_0 or q6_k"), unknown.err());
        CliRun q8 = run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format", "gguf",
                "--dtype", "q8_0", "--out", dir.resolve("q8").toString(), "--no-log-to-run");
        assertEquals(0, q8.code(), q8.err());
        assertEquals(List.of("export         " + dir.resolve("q8") + " (q8_0)"), q8.out().lines().toList());
        assertTrue(q8.err().contains("note: gguf: token_embd.weight: its rows of 16 values are no multiple of 32, so it is"
                + " written in f16, as llama.cpp's quantizer does"), q8.err());
        CliRun q8check = run("--progress=none", "exports", "check", dir.resolve("q8").toString(), "--python",
                RepoFixtures.python());
        assertEquals(0, q8check.code(), q8check.out() + q8check.err());

        CliRun r = run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format", "hf,onnx,gguf",
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(out.resolve("hf/model.safetensors")) && Files.exists(out.resolve("hf/config.json")));
        assertTrue(Files.exists(out.resolve("gguf/model.gguf")));
        assertTrue(Files.exists(out.resolve("onnx/model.onnx")));
        org.distillery.core.runs.LocalRunStore store = new org.distillery.core.runs.LocalRunStore(work.resolve("runs"));
        org.distillery.core.runs.LocalRunStore.Meta meta = store.list().get(0);
        Path artifacts = store.runDir(meta).resolve("artifacts");
        assertTrue(Files.exists(artifacts.resolve("export/exports/hf/model.safetensors")), "logged to the training run");
        assertTrue(Files.exists(artifacts.resolve("export/exports/gguf/model.gguf")));
        assertTrue(Files.exists(artifacts.resolve("export/exports/onnx/model.onnx")));
        assertFalse(Files.exists(artifacts.resolve("export/mixed")), "--no-log-to-run");

        CliRun again = run("--work-dir", work.toString(), "export", model.toString(), "--format", "hf", "--out",
                out.resolve("hf").toString());
        assertEquals(2, again.code(), "an existing export is not replaced without --overwrite");

        // With tracking on, the run reaches a real MLflow server with its exports as artifacts.
        try (MlflowServer server = new MlflowServer(dir.resolve("mlflow")).start()) {
            CliRun tracked = run("--work-dir", work.toString(), "--progress=none", "--tracking-uri", server.uri(), "export",
                    model.toString(), "--format", "hf,gguf", "--out", out.toString(), "--overwrite");
            assertEquals(0, tracked.code(), tracked.err());
            String mlflowRun = store.find(meta.runId()).mlflowRunId();
            assertTrue(mlflowRun != null, "the run was created on the server: " + tracked.err());
            java.util.Set<String> listed = new java.util.TreeSet<>();
            server.get("/api/2.0/mlflow/artifacts/list", "run_id", mlflowRun, "path", "export/exports/hf").path("files")
                    .forEach(f -> listed.add(f.get("path").asText()));
            assertTrue(listed.containsAll(List.of("export/exports/hf/model.safetensors", "export/exports/hf/config.json",
                    "export/exports/hf/tokenizer.json")), listed.toString());
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(out.resolve("gguf/model.gguf")),
                    server.getBytes("/get-artifact", "path", "export/exports/gguf/model.gguf", "run_uuid", mlflowRun)),
                    "the GGUF on the server is the file written");
        }

        Path imported = dir.resolve("imported.ckpt");
        CliRun imp = run("--work-dir", work.toString(), "import", out.resolve("hf").toString(), "--out", imported.toString());
        assertEquals(0, imp.code(), imp.err());
        assertTrue(imp.out().contains("checkpoint"), imp.out());
        float[] a = org.distillery.model.Checkpoint.read(model).section("params").toFloatVector();
        float[] b = org.distillery.model.Checkpoint.read(imported).section("params").toFloatVector();
        assertTrue(java.util.Arrays.equals(a, b), "import(export(m)) has m's weights");
    }

    /** What the workbench's Exports view runs: the list with provenance, and the serving readers' check. */
    @Test
    void exportsAreListedWithProvenanceAndCheckedByTheServingReaders() throws Exception {
        Path data = org.distillery.model.TinyPrep.write(dir.resolve("prep"), 40, false);
        Path work = dir.resolve("work");
        Path model = trainTiny(work, "tiny", data, 1);
        Path out = work.resolve("export/tiny");
        assertEquals(0, run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format",
                "hf,onnx,gguf", "--out", out.toString()).code());
        String runId = org.distillery.model.Checkpoint.readHeader(model).runId();

        CliRun list = run("--work-dir", work.toString(), "exports", "list", "--json");
        assertEquals(0, list.code(), list.err());
        com.fasterxml.jackson.databind.JsonNode exports = JSON.readTree(list.out()).get("exports");
        assertEquals(1, exports.size());
        assertEquals("tiny", exports.get(0).get("name").asText());
        List<String> formats = new java.util.ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode f : exports.get(0).get("formats")) {
            formats.add(f.get("format").asText());
            assertEquals(runId, f.get("provenance").get("distillery.run_id").asText(), "provenance inside " + f);
            assertEquals(model.toAbsolutePath().toString(), f.get("provenance").get("distillery.checkpoint").asText());
        }
        assertEquals(List.of("hf", "onnx", "gguf"), formats);

        Path report = dir.resolve("check.json");
        CliRun check = run("--progress=json", "exports", "check", out.toString(), "--report", report.toString(),
                "--python", RepoFixtures.python());
        assertEquals(0, check.code(), check.out() + check.err());
        com.fasterxml.jackson.databind.JsonNode r = JSON.readTree(report.toFile());
        assertTrue(r.get("reference").asText().startsWith("checkpoint "), r.toString());
        for (com.fasterxml.jackson.databind.JsonNode c : r.get("checks")) {
            assertTrue(c.get("ok").asBoolean(), c.toString());
            assertTrue(c.get("provenance_read").asBoolean(), c.toString());
        }
        assertTrue(r.get("checks").get(0).get("reader").asText().startsWith("transformers "), r.toString());
        assertTrue(r.get("checks").get(0).get("max_abs_logit_diff").asDouble() < 1e-3, r.toString());
        assertTrue(r.get("checks").get(1).get("reader").asText().startsWith("onnxruntime "), r.toString());
        assertTrue(r.get("checks").get(2).get("reader").asText().startsWith("llama.cpp "), r.toString());
        assertTrue(r.get("checks").get(2).get("max_abs_logit_diff").asDouble() < 1e-3, r.toString());
        assertTrue(check.err().contains("\"type\":\"stage\""), "progress events: " + check.err());
        assertTrue(check.out().contains("onnx  ok"), "the results on stdout whatever the progress: " + check.out());
        assertFalse(check.out().contains("\"type\""), check.out());
        assertTrue(check.err().lines().allMatch(l -> l.startsWith("{\"schema\"")),
                "stderr holds the events and nothing of the readers' (transformers' 'Loading weights' bar): "
                        + check.err());

        // The checkpoint gone, the hf folder read back is the reference; a damaged ONNX file fails its check alone.
        Files.move(model, dir.resolve("moved.ckpt"));
        Path onnx = out.resolve("onnx/model.onnx");
        byte[] bytes = Files.readAllBytes(onnx);
        Files.write(onnx, java.util.Arrays.copyOf(bytes, bytes.length - 4096));
        CliRun damaged = run("--progress=none", "exports", "check", out.toString(), "--report", report.toString(),
                "--python", RepoFixtures.python());
        assertEquals(1, damaged.code(), damaged.out() + damaged.err());
        r = JSON.readTree(report.toFile());
        assertTrue(r.get("reference").asText().startsWith("the hf folder read back"), r.toString());
        assertTrue(r.get("checks").get(0).get("ok").asBoolean(), r.toString());
        assertTrue(!r.get("checks").get(1).get("ok").asBoolean(), r.toString());
        assertTrue(r.get("checks").get(2).get("ok").asBoolean(), r.toString());
        assertTrue(damaged.out().contains("onnx  FAIL"), damaged.out());
    }

    /** The spec editor's validation: the jobs' own reader, every problem with its file, line and field. */
    @Test
    void validateReportsProblemsWithFileLineAndField() throws Exception {
        Path good = RepoFixtures.root().resolve("pipelines/demo/train.yaml");
        Path work = dir.resolve("validate-work");
        CliRun missing = run("--work-dir", work.toString(), "validate", "train", good.toString());
        assertEquals(2, missing.code(), "the prep output it names is not there yet");
        org.distillery.model.TinyPrep.write(work.resolve("prep/demo"), 20, false);
        CliRun ok = run("--work-dir", work.toString(), "validate", "train", good.toString());
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("valid train spec"), ok.out());

        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "name: x\ndata:\n  prep: prep/x\nmodel:\n  n_layr: 2\n");
        CliRun r = run("validate", "train", bad.toString(), "--json");
        assertEquals(2, r.code());
        com.fasterxml.jackson.databind.JsonNode v = JSON.readTree(r.out());
        assertEquals("distillery.validation/1", v.get("format").asText());
        assertTrue(!v.get("valid").asBoolean());
        com.fasterxml.jackson.databind.JsonNode p = v.get("problems").get(0);
        assertEquals(5, p.get("line").asInt());
        assertEquals("model.n_layr", p.get("field").asText());
        assertTrue(p.get("message").asText().contains("did you mean 'n_layer'"), p.toString());

        Files.writeString(bad, "name: x\ndata:\n  prep: prep/x\ntraining:\n  steps: -3\n");
        com.fasterxml.jackson.databind.JsonNode v2 = JSON.readTree(run("validate", "train", bad.toString(), "--json").out());
        p = v2.get("problems").get(0);
        assertEquals(5, p.get("line").asInt(), v2.toString());
        assertEquals("training.steps", p.get("field").asText(), v2.toString());

        CliRun kind = run("validate", "trian", bad.toString());
        assertEquals(2, kind.code());
        assertTrue(kind.err().contains("KIND: expected one of prep, train"), kind.err());
    }

    /** The Datasets view's sources: the catalogue with fetch state, and documents read as prep reads them. */
    @Test
    void datasetsAreListedAndSampledAsJson() throws Exception {
        Path work = dir.resolve("work");
        CliRun list = run("--work-dir", work.toString(), "--datasets", RepoFixtures.datasets().toString(), "datasets",
                "list", "--json");
        assertEquals(0, list.code(), list.err());
        com.fasterxml.jackson.databind.JsonNode ds = JSON.readTree(list.out()).get("datasets");
        com.fasterxml.jackson.databind.JsonNode nlp = null;
        for (com.fasterxml.jackson.databind.JsonNode d : ds) {
            if (d.get("name").asText().equals("nlp-corpus")) {
                nlp = d;
            }
        }
        assertTrue(nlp != null, ds.toString());
        assertEquals("json-sentences", nlp.get("format").asText());
        assertEquals("nlp-corpus", nlp.get("source").get("npm").asText());
        assertTrue(!nlp.get("fetched").asBoolean(), "a fresh work dir has nothing fetched");

        CliRun sample = run("--work-dir", work.toString(), "--datasets", RepoFixtures.datasets().toString(), "datasets",
                "sample", "nlp-corpus", "--count", "3", "--json");
        assertEquals(0, sample.code(), sample.err());
        com.fasterxml.jackson.databind.JsonNode s = JSON.readTree(sample.out());
        assertEquals(3, s.get("documents").size());
        assertTrue(s.get("from").asText().endsWith("nlp-corpus/sample"), s.toString());
        assertTrue(!s.get("documents").get(0).asText().isBlank());

        CliRun tok = run("--work-dir", work.toString(), "--datasets", RepoFixtures.datasets().toString(), "datasets",
                "sample", "gpt2-tokenizer");
        assertEquals(2, tok.code());
        assertTrue(tok.err().contains("is not a corpus"), tok.err());
    }

    /**
     * The Llama family from the command line: train, generate, export (hf, onnx, gguf) and check the exports with
     * transformers, ONNX Runtime and llama.cpp, score the teacher on Spark, and distill its Hugging Face folder into
     * a student with fewer key/value heads.
     */
    @Test
    void aLlamaModelTrainsGeneratesExportsAndDistillsFromTheCommandLine() throws Exception {
        Path data = org.distillery.model.TinyPrep.write(dir.resolve("prep"), 40, false);
        Path work = dir.resolve("work");
        Path spec = dir.resolve("llama.yaml");
        Files.writeString(spec, """
                name: llama
                data:
                  path: %s
                model: {arch: llama, n_layer: 2, n_head: 4, n_kv_head: 2, n_embd: 16, block_size: 16, intermediate_size: 24}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """.formatted(data));
        CliRun trained = run("--work-dir", work.toString(), "--progress=none", "train", spec.toString());
        assertEquals(0, trained.code(), trained.err());
        Path model = work.resolve("train/llama/model.ckpt");
        assertEquals("llama", org.distillery.model.Checkpoint.readHeader(model).model().arch());
        CliRun generated = run("--progress=none", "generate", model.toString(), "the", "--max-new-tokens", "5");
        assertEquals(0, generated.code(), generated.err());

        Path out = work.resolve("export/llama");
        CliRun exported = run("--work-dir", work.toString(), "--progress=none", "export", model.toString(), "--format",
                "hf,onnx,gguf", "--out", out.toString());
        assertEquals(0, exported.code(), exported.err());
        Path report = dir.resolve("llama-check.json");
        CliRun check = run("--progress=none", "exports", "check", out.toString(), "--report", report.toString(),
                "--python", RepoFixtures.python());
        assertEquals(0, check.code(), check.out() + check.err());
        com.fasterxml.jackson.databind.JsonNode r = JSON.readTree(report.toFile());
        assertEquals(3, r.get("checks").size(), r.toString());
        for (com.fasterxml.jackson.databind.JsonNode c : r.get("checks")) {
            assertTrue(c.get("ok").asBoolean() && c.get("max_abs_logit_diff").asDouble() < 1e-3, c.toString());
        }
        assertTrue(r.get("checks").get(2).get("reader").asText().startsWith("llama.cpp "), r.toString());

        Path scores = dir.resolve("llama-scores.yaml");
        Files.writeString(scores, """
                name: llama-scores
                teacher: %s
                data:
                  path: %s
                top_k: 8
                spark: {master: 'local[2]', partitions: 2}
                """.formatted(out.resolve("hf"), data));
        CliRun scored = run("--work-dir", work.toString(), "--progress=none", "teacher-logits", scores.toString());
        assertEquals(0, scored.code(), scored.err());

        Path distill = dir.resolve("llama-student.yaml");
        Files.writeString(distill, """
                name: llama-student
                teacher: %s
                data:
                  path: %s
                student: {n_layer: 1, n_kv_head: 1, init: teacher}
                distillation: {loss: jsd, temperature: 2.0, kd_ratio: 0.8, teacher_logits: llama-scores, top_k: 8}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """.formatted(out.resolve("hf"), data));
        CliRun distilled = run("--work-dir", work.toString(), "--progress=none", "distill", distill.toString());
        assertEquals(0, distilled.code(), distilled.err());
        org.distillery.model.GptConfig student = org.distillery.model.Checkpoint.readHeader(
                work.resolve("distill/llama-student/model.ckpt")).model();
        assertEquals(1, student.nLayer());
        assertEquals(1, student.kvHeads());
        assertEquals(24, student.llama().intermediateSize());
    }

    /** A teacher trained and exported as a Hugging Face folder, distilled from that folder into a student. */
    @Test
    void distillFromAHuggingFaceTeacherFolder() throws Exception {
        Path data = org.distillery.model.TinyPrep.write(dir.resolve("prep"), 40, false);
        Path work = dir.resolve("work");
        Path teacher = trainTiny(work, "teacher", data, 2);
        Path hf = dir.resolve("teacher-hf");
        assertEquals(0, run("--work-dir", work.toString(), "--progress=none", "export", teacher.toString(), "--format",
                "hf", "--out", hf.toString()).code());
        Path distill = dir.resolve("student.yaml");
        String yaml = """
                name: student
                teacher: teacher-hf
                data:
                  path: %s
                student: {n_layer: 1}
                distillation: {loss: reverse_kl, temperature: 1.5, kd_ratio: 0.8}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """.formatted(data);
        Files.writeString(distill, yaml.replace("temperature: 1.5", "temperature: 0"));
        CliRun bad = run("--work-dir", work.toString(), "distill", distill.toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().startsWith("error: " + distill + ":6: distillation.temperature must be positive"), bad.err());

        Files.writeString(distill, yaml);
        CliRun r = run("--work-dir", work.toString(), "--progress=none", "distill", distill.toString());
        assertEquals(0, r.code(), r.err());
        Path student = work.resolve("distill/student/model.ckpt");
        assertTrue(r.out().contains("student        " + student), r.out());
        assertTrue(r.out().contains(" (the distillation mix of teacher and data losses at the last step)\n"), r.out());
        assertTrue(r.out().matches("(?s).*\nteacher        val loss \\d+\\.\\d{4} \\(perplexity [0-9.]+\\): the student is"
                + " \\d+\\.\\d{4} nats (above|below) it\n.*"), r.out());
        assertFalse(r.out().contains("unigram"), "the unigram line is the train summary's: " + r.out());
        org.distillery.model.Checkpoint.Header h = org.distillery.model.Checkpoint.readHeader(student);
        assertEquals(1, h.model().nLayer());
        assertEquals(16, h.model().nEmbd());
        assertEquals(hf.toString(), ((java.util.Map<?, ?>) h.spec().get("teacher_checkpoint")).get("source"));
        org.distillery.core.runs.LocalRunStore store = new org.distillery.core.runs.LocalRunStore(work.resolve("runs"));
        assertTrue(store.list().stream().anyMatch(m -> m.runName().equals("distill-student")), "the run is tracked");

        // Offline: the same teacher folder scored on Spark, then a student that reads the scores by name.
        Path scores = dir.resolve("scores.yaml");
        Files.writeString(scores, """
                name: scores
                teacher: teacher-hf
                data:
                  path: %s
                top_k: 16
                temperature: 1.5
                spark: {master: 'local[2]', partitions: 2}
                """.formatted(data));
        CliRun scored = run("--work-dir", work.toString(), "--progress=none", "teacher-logits", scores.toString());
        assertEquals(0, scored.code(), scored.err());
        Path logits = work.resolve("teacher-logits/scores");
        assertTrue(scored.out().contains("output        " + logits), scored.out());
        assertTrue(scored.out().contains("top 16 at temperature 1.5"), scored.out());
        org.distillery.core.shard.TeacherLogitsManifest.read(logits).verify(logits);

        Files.writeString(distill, yaml.replace("name: student", "name: student-offline")
                .replace("kd_ratio: 0.8}", "kd_ratio: 0.8, teacher_logits: scores, top_k: 16}"));
        CliRun offline = run("--work-dir", work.toString(), "--progress=none", "distill", distill.toString());
        assertEquals(0, offline.code(), offline.err());
        Path offlineStudent = work.resolve("distill/student-offline/model.ckpt");
        assertEquals(logits.toString(), ((java.util.Map<?, ?>) org.distillery.model.Checkpoint.readHeader(offlineStudent)
                .spec().get("teacher_logits")).get("path"));

        Files.writeString(distill, yaml.replace("kd_ratio: 0.8}", "kd_ratio: 0.8, teacher_logits: nowhere}"));
        CliRun missing = run("--work-dir", work.toString(), "distill", distill.toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains(":6: distillation.teacher_logits is nowhere, but neither"), missing.err());
    }
}
