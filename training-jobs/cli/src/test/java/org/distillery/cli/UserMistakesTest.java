package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.model.TinyPrep;
import org.distillery.model.TinyTeacher;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mistakes users make on the command line: each gets one error line and exit 2, or does what was meant. */
class UserMistakesTest {
    @TempDir
    static Path dir;
    static Path prep;
    static Path run;

    @BeforeAll
    static void aRunFolder() throws Exception {
        prep = TinyPrep.write(dir.resolve("prep"), 20, false);
        run = Files.createDirectories(dir.resolve("train/demo"));
        TinyTeacher.random(prep, 1, 2, 16, 16, 3).write(run.resolve("model.ckpt"));
    }

    private static void assertOneLine(CliRun r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertEquals(List.of(expected), r.err().lines().toList());
        assertEquals("", r.out());
    }

    @Test
    void aRunOrPrepFolderStandsForItsModelOrTokenizer() {
        CliRun g = CliRun.of("generate", run.toString(), "ab", "--max-new-tokens", "3");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("ab"), g.out());
        CliRun t = CliRun.of("tokenizer", "encode", "--tokenizer", prep.toString(), "ab");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().strip().matches("\\d+( \\d+)*"), t.out());
        Path empty = dir.resolve("empty");
        empty.toFile().mkdirs();
        assertOneLine(CliRun.of("generate", empty.toString(), "ab"), "error: " + empty
                + ": a folder without model.ckpt; expected a .ckpt file or a train or distill output folder");
    }

    @Test
    void generateRefusesCountsAndTemperaturesThatMeanNothing() {
        assertOneLine(CliRun.of("generate", run.toString(), "ab", "--max-new-tokens", "-5"),
                "error: --max-new-tokens is -5; give a count of 0 or more");
        assertOneLine(CliRun.of("generate", run.toString(), "ab", "--temperature", "NaN"),
                "error: temperature must be 0 (greedy) or positive, found NaN");
    }

    @Test
    void importRefusesToReplaceACheckpointUnlessToldAndWritesIntoAFolder() {
        Path export = dir.resolve("export");
        CliRun e = CliRun.of("--progress=none", "export", run.toString(), "--format", "hf", "--out", export.toString());
        assertEquals(0, e.code(), e.err());
        Path into = dir.resolve("imports");
        into.toFile().mkdirs();
        CliRun first = CliRun.of("import", export.toString(), "--out", into.toString());
        assertEquals(0, first.code(), first.err());
        assertTrue(Files.isRegularFile(into.resolve("export.ckpt")), "written into the folder");
        assertOneLine(CliRun.of("import", export.toString(), "--out", into.toString()),
                "error: " + into.resolve("export.ckpt") + ": already exists; remove it or pass --overwrite");
        CliRun again = CliRun.of("import", export.toString(), "--out", into.toString(), "--overwrite");
        assertEquals(0, again.code(), again.err());
    }

    /** Sampling without --seed uses a fresh seed and prints it, so that a good output can be had again. */
    @Test
    void generateSaysWhichSeedItDrew() {
        CliRun first = CliRun.of("generate", run.toString(), "ab", "--temperature", "1", "--max-new-tokens", "8");
        assertEquals(0, first.code(), first.err());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "note: sampling with seed (\\d+) \\(--seed \\1 repeats this output\\)\n").matcher(first.err());
        assertTrue(m.matches(), first.err());
        CliRun again = CliRun.of("generate", run.toString(), "ab", "--temperature", "1", "--max-new-tokens", "8",
                "--seed", m.group(1));
        assertEquals(first.out(), again.out());
        assertEquals("", again.err());
        assertEquals("", CliRun.of("generate", run.toString(), "ab", "--max-new-tokens", "2").err(), "greedy: no seed");
    }

    /** A model that ends its text: the end-of-text token ends the output, it is not printed. */
    @Test
    void generateStopsAtEndOfTextWithoutPrintingIt() throws Exception {
        org.distillery.model.Checkpoint ck = TinyTeacher.random(prep, 1, 2, 16, 16, 3);
        org.distillery.model.GptParameters p = org.distillery.model.GptParameters.wrap(ck.header().model(),
                ck.section(org.distillery.model.Checkpoint.PARAMS));
        int eot = org.distillery.core.shard.ShardManifest.read(prep).eotId();
        // Final LayerNorm outputs a multiple of end-of-text's (tied) embedding, scaled up: its logit wins everywhere.
        org.nd4j.linalg.api.ndarray.INDArray row = p.get("wte.weight").getRow(eot).muli(10);
        p.get("ln_f.weight").assign(0);
        p.get("ln_f.bias").assign(row);
        Path file = dir.resolve("ends.ckpt");
        ck.write(file);
        CliRun r = CliRun.of("generate", file.toString(), "ab", "--max-new-tokens", "5");
        assertEquals(0, r.code(), r.err());
        assertEquals("ab\n", r.out());
    }

    /** --progress-file: the events in the file the caller names, stderr left to errors, stdout to the results. */
    @Test
    void progressEventsGoToTheFileNamed() throws Exception {
        Path spec = TinySpecs.train(dir, "events", prep, 2, 1, "optimizer: {warmup_steps: 1}");
        Path events = dir.resolve("logs/events.jsonl");
        CliRun r = CliRun.of("--work-dir", dir.resolve("work-events").toString(), "--progress-file", events.toString(),
                "train", spec.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err(), "no events on stderr off a terminal when a file takes them");
        assertTrue(r.out().startsWith("model          "), r.out());
        List<org.distillery.core.progress.ProgressEvent> all = Files.readAllLines(events).stream()
                .map(org.distillery.core.progress.ProgressEvent::parse).toList();
        assertEquals("run", all.get(0).type());
        assertEquals("done", all.get(all.size() - 1).type());
        assertTrue(all.stream().anyMatch(e -> e instanceof org.distillery.core.progress.ProgressEvent.Metric m
                && m.name().equals("train/loss") && m.step() == 2), all.toString());
    }

    /**
     * --resume with nothing to resume starts fresh and says so; resuming a finished run has no speed to report
     * (it used to print 'speed 0 tokens/s').
     */
    @Test
    void resumeSaysWhatItResumes() throws Exception {
        Path spec = TinySpecs.train(dir, "resume", prep, 3, 1);
        Path work = dir.resolve("work-resume");
        CliRun fresh = CliRun.of("--work-dir", work.toString(), "--progress=none", "train", spec.toString(), "--resume");
        assertEquals(0, fresh.code(), fresh.err());
        assertTrue(fresh.err().contains("note: --resume: " + work.resolve("train/resume") + " holds no checkpoint yet;"
                + " starting a fresh run\n"), fresh.err());
        assertTrue(fresh.out().matches("(?s).*\nspeed          \\d+ tokens/s, [0-9.]+ ms/step\n.*"), fresh.out());
        CliRun again = CliRun.of("--work-dir", work.toString(), "--progress=none", "train", spec.toString(), "--resume");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("\nspeed          - (the run had already finished all 3 steps; nothing left to"
                + " run)\n"), again.out());
        assertTrue(!again.err().contains("note: --resume"), again.err());
    }

    /** --set overrides a spec field from the command line, checked like the file; a warmup longer than the run warns. */
    @Test
    void setOverridesTheSpecAndAWarmupLongerThanTheRunWarns() throws Exception {
        Path spec = TinySpecs.train(dir, "set", prep, 50, 1);
        Path work = dir.resolve("work-set");
        assertOneLine(CliRun.of("--work-dir", work.toString(), "train", spec.toString(), "--set", "training.stepz=2"),
                "error: --set training.stepz=2: unknown field 'stepz' in 'training' (did you mean 'steps'?); allowed:"
                        + " batch_size, grad_accum, log_every, precision, steps");
        CliRun r = CliRun.of("--work-dir", work.toString(), "--progress=none", "train", spec.toString(), "--set",
                "training.steps=3", "--set", "optimizer.warmup_steps=10");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("warning: --set optimizer.warmup_steps=10: optimizer.warmup_steps (10) is longer"
                + " than the run (training.steps 3): the learning rate never reaches optimizer.lr"), r.err());
        org.distillery.core.runs.LocalRunStore store = new org.distillery.core.runs.LocalRunStore(work.resolve("runs"));
        org.distillery.core.runs.LocalRunStore.Meta m = store.list().get(0);
        assertEquals("3", store.params(m).get("training.steps"));
        assertEquals("--set training.steps=3 --set optimizer.warmup_steps=10",
                store.tags(m).get(TrainingLaunch.OVERRIDES_TAG));
        CliRun v = CliRun.of("--work-dir", work.toString(), "validate", "train", spec.toString(), "--set",
                "model.n_head=3");
        assertEquals(2, v.code());
        assertEquals(List.of(spec + ":4: model.n_embd must be divisible by model.n_head (3), found 16"),
                v.err().lines().toList(), "the overridden value is checked with the file's");
    }

    /** validate checks what the job checks before it starts, reports every problem, and names a spec's kind. */
    @Test
    void validateFindsWhatTheJobWouldAndEveryProblem() throws Exception {
        Path work = dir.resolve("work-validate");
        Path train = dir.resolve("typo.yaml");
        Files.writeString(train, "name: typo\ndata:\n  prep: dmeo\nmodel: {n_layer: 1, n_head: 2, n_embd: 16}\n");
        CliRun r = CliRun.of("--work-dir", work.toString(), "validate", "train", train.toString());
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(List.of(train + ":3: data.prep points at " + work.resolve("prep/dmeo") + ", which holds no prep output"
                + " (no manifest.json): run distillery prep first"), r.err().lines().toList());

        Path many = dir.resolve("many.yaml");
        Files.writeString(many, "name: many\ndata:\n  path: " + prep + "\nmodel: {n_layer: 1, n_head: x}\n"
                + "training: {stepz: 3}\n");
        CliRun all = CliRun.of("--work-dir", work.toString(), "validate", "train", many.toString());
        assertEquals(List.of(many + ":4: field 'model.n_head' must be an integer, found 'x'",
                many + ":5: unknown field 'stepz' in 'training' (did you mean 'steps'?); allowed: batch_size, grad_accum,"
                        + " log_every, precision, steps"), all.err().lines().toList());

        Path prepSpec = dir.resolve("prep-spec.yaml");
        Files.writeString(prepSpec, "name: p\nsources:\n  - path: nowhere/\n    format: text\n");
        CliRun kind = CliRun.of("--work-dir", work.toString(), "validate", "train", prepSpec.toString());
        assertEquals(prepSpec + ":1: this is not a train spec but looks like a prep one: distillery validate prep "
                + prepSpec, kind.err().lines().findFirst().orElse(""));
        CliRun asPrep = CliRun.of("--work-dir", work.toString(), "validate", "prep", prepSpec.toString(), "--json");
        assertEquals(2, asPrep.code());
        com.fasterxml.jackson.databind.JsonNode p = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(asPrep.out()).get("problems").get(0);
        assertEquals(3, p.get("line").asInt());
        assertEquals("sources[0].path", p.get("field").asText());
        assertEquals(dir.resolve("nowhere") + ": no such file or folder (sources[0].path)", p.get("message").asText());
    }

    /** Exit codes mean one thing across commands: 1 a check found damage, 2 bad input. */
    @Test
    void shardsVerifySaysFailOnStdoutWithTheExitCodeOfAFailedCheck() throws Exception {
        Path copy = TinyPrep.write(dir.resolve("damaged-prep"), 20, false);
        Path shard;
        try (java.util.stream.Stream<Path> files = Files.walk(copy)) {
            shard = files.filter(f -> f.getFileName().toString().endsWith(".bin")).findFirst().orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(shard);
        bytes[bytes.length / 2] ^= 1;
        Files.write(shard, bytes);
        CliRun r = CliRun.of("shards", "verify", copy.toString());
        assertEquals(Distillery.ExitCode.CHECK_FAILED, r.code(), r.err());
        assertTrue(r.out().startsWith(copy + ": FAIL " + shard + ": "), r.out());
        assertEquals("", r.err());
        CliRun none = CliRun.of("shards", "verify", dir.resolve("no-prep").toString());
        assertEquals(Distillery.ExitCode.BAD_INPUT, none.code());
        assertEquals(1, none.err().lines().count(), none.err());
    }

    /** Damaged files are named by Distillery's own readers, not blamed on the installation in a traceback. */
    @Test
    void exportsCheckNamesTheDamageItself() throws Exception {
        Path export = dir.resolve("damaged");
        assertEquals(0, CliRun.of("--progress=none", "export", run.toString(), "--format", "hf,gguf", "--out",
                export.toString()).code());
        Path safetensors = export.resolve("hf/model.safetensors");
        byte[] bytes = Files.readAllBytes(safetensors);
        Files.write(safetensors, java.util.Arrays.copyOf(bytes, bytes.length - 100));
        Path gguf = export.resolve("gguf/model.gguf");
        bytes = Files.readAllBytes(gguf);
        bytes[0] = 'X';
        Files.write(gguf, bytes);
        CliRun r = CliRun.of("--progress=none", "exports", "check", export.toString());
        assertEquals(1, r.code(), r.out() + r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        assertTrue(lines.get(0).startsWith("hf    FAIL damaged: " + safetensors + ": tensor ")
                && lines.get(0).endsWith(": truncated?"), lines.get(0));
        assertEquals("gguf  FAIL damaged: " + gguf + ": starts with 0x46554758, not the GGUF magic (\"GGUF\"): not a"
                + " GGUF file", lines.get(1));
        assertEquals("", r.err());
    }

    @Test
    void aServerThatIsDownIsSaidOnceNotOncePerRun() {
        Path work = dir.resolve("work-sync");
        org.distillery.core.runs.LocalRunStore store = new org.distillery.core.runs.LocalRunStore(work.resolve("runs"));
        store.create("exp", "train-a", null);
        store.create("exp", "train-b", null);
        assertOneLine(CliRun.of("--work-dir", work.toString(), "runs", "sync", "--to", "http://127.0.0.1:1"),
                "error: cannot reach the MLflow server at http://127.0.0.1:1: connection refused; 0 of 2 runs synced;"
                        + " run the command again once it answers (synced data is not sent twice)");
    }
}
