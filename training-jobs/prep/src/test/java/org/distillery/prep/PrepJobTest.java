package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TokenShardReader;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.testing.RepoFixtures;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrepJobTest {
    static SparkSession spark;
    @TempDir
    static Path dir;
    static PrepJob.Result result;
    static List<ProgressEvent> events = new ArrayList<>();

    @BeforeAll
    static void runPrepOnce() throws Exception {
        spark = SparkSessions.open("local[2]", "prep-test", 4);
        Path specFile = PrepFixtures.writeSpec(dir.resolve("spec"), 600);
        PrepSpec spec = SpecReader.read(specFile, PrepSpec.class);
        DatasetCatalog catalog = new DatasetCatalog(RepoFixtures.datasets(), dir.resolve("work"));
        result = new PrepJob(spec, specFile.getParent(), catalog, dir.resolve("out"), false,
                e -> { synchronized (events) { events.add(e); } }).run(spark);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void countsWhatEachStageRemoved() {
        ShardManifest.Stats s = result.manifest().stats();
        assertEquals(8 + 1000 + 47, s.documentsRead());
        assertEquals(1, s.documentsEmpty());
        assertTrue(s.removedByFilter().get("min_chars") >= 1);
        assertTrue(s.removedByFilter().get("min_alpha_ratio") >= 1);
        assertTrue(s.removedByFilter().get("max_repeated_line_fraction") >= 1);
        assertTrue(s.exactDuplicates() >= 1, "the repeated document is an exact duplicate");
        assertTrue(s.nearDuplicates() >= 1, "the document with one extra character is a near duplicate");
        assertEquals(s.documentsRead() - s.documentsEmpty()
                - s.removedByFilter().values().stream().mapToLong(Long::longValue).sum()
                - s.exactDuplicates() - s.nearDuplicates(), s.documentsKept());
        assertEquals(s.documentsKept(), result.manifest().splits().get("train").documents()
                + result.manifest().splits().get("val").documents());
    }

    @Test
    void writesVerifiableShardsThatDecodeBackToTheDocuments() throws Exception {
        Path out = result.output();
        ShardManifest m = ShardManifest.read(out);
        m.verify(out);
        assertEquals(3, m.splits().get("train").shards().size());
        assertEquals(1, m.splits().get("val").shards().size());
        assertEquals("uint16", m.dtype());
        BpeTokenizer tok = HfTokenizerJson.read(out.resolve(PrepJob.TOKENIZER_FILE));
        assertEquals(600, tok.vocabSize());
        long docs = 0;
        for (TokenShardWriter.Summary s : m.splits().get("train").shards()) {
            try (TokenShardReader r = TokenShardReader.open(out.resolve(s.file()), s.sha256())) {
                int[] all = new int[(int) r.tokens()];
                r.read(0, all);
                long eots = java.util.Arrays.stream(all).filter(t -> t == m.eotId()).count();
                assertEquals(r.documents(), eots, "each document ends with end-of-text");
                docs += r.documents();
                String text = tok.decode(all);
                assertFalse(text.contains("/at "), "Brown tags are stripped");
                assertArrayEquals(all, tok.encode(text), "shard tokens are the tokenizer's encoding of the text");
            }
        }
        assertEquals(m.splits().get("train").documents(), docs);
        try (Stream<Path> left = Files.list(dir)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().contains(".partial-")), "staging folder removed");
        }
    }

    @Test
    void validationShardIsExactlyWhatHuggingFaceTokenizersMakeOfTheValidationText() throws Exception {
        Path out = result.output();
        ShardManifest m = ShardManifest.read(out);
        BpeTokenizer tok = HfTokenizerJson.read(out.resolve(PrepJob.TOKENIZER_FILE));
        List<int[]> docs = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (TokenShardWriter.Summary s : m.splits().get("val").shards()) {
            try (TokenShardReader r = TokenShardReader.open(out.resolve(s.file()), s.sha256())) {
                int[] all = new int[(int) r.tokens()];
                r.read(0, all);
                int start = 0;
                for (int i = 0; i < all.length; i++) {
                    if (all[i] == m.eotId()) {
                        int[] doc = java.util.Arrays.copyOfRange(all, start, i);
                        docs.add(doc);
                        texts.add(tok.decode(doc));
                        start = i + 1;
                    }
                }
            }
        }
        assertTrue(texts.size() > 10, "validation split has documents: " + texts.size());
        var hf = org.distillery.core.testing.Peers.python("hf_encode.py", java.util.Map.of(
                "tokenizer_json", out.resolve(PrepJob.TOKENIZER_FILE).toString(), "texts", texts));
        List<int[]> hfIds = org.distillery.core.testing.Peers.idLists(hf.get("ids"));
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(hfIds.get(i), docs.get(i), "validation document " + i);
        }
    }

    @Test
    void reportsStagesAndMetricsAsProgressEvents() {
        List<String> stages = events.stream().filter(e -> e instanceof ProgressEvent.Stage)
                .map(e -> ((ProgressEvent.Stage) e).stage()).toList();
        assertEquals(List.of(PrepJob.STAGES), stages);
        assertTrue(events.stream().anyMatch(e -> e instanceof ProgressEvent.Progress p && "tasks".equals(p.unit())));
        assertTrue(events.stream().anyMatch(e -> e instanceof ProgressEvent.Metric m && m.name().equals("dedup_ratio")));
        assertEquals("done", events.get(events.size() - 1).type());
    }
}
