package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line as a user runs it: exit codes, stdout for results and events, stderr for errors. */
class DistilleryCommandTest {
    @TempDir
    Path dir;

    private record Run(int code, String out, String err) {
    }

    private Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = Distillery.run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
        }
    }

    @Test
    void badSpecIsExitCodeTwoWithTheMessageOnStderr() throws Exception {
        Path spec = dir.resolve("bad.yaml");
        Files.writeString(spec, "name: x\nsources:\n  - path: a.txt\n    format: text\nfilterz: {}\n");
        Run r = run("--progress=json", "prep", spec.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: " + spec + ":5: unknown field 'filterz'"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void prepWritesJsonProgressEventsAndTheShardsVerify() throws Exception {
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
        Run r = run("--progress=json", "--datasets", RepoFixtures.datasets().toString(), "prep", spec.toString(),
                "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<ProgressEvent> events = r.out().lines().map(ProgressEvent::parse).toList();
        assertEquals("stage", events.get(0).type());
        assertEquals("read", events.get(0).stage());
        ProgressEvent last = events.get(events.size() - 1);
        assertEquals("done", last.type());
        assertEquals(out.toAbsolutePath().toString(), last.output());
        assertTrue(events.stream().allMatch(e -> ProgressEvent.SCHEMA.equals(e.schema())));

        Run verify = run("shards", "verify", out.toString());
        assertEquals(0, verify.code(), verify.err());
        assertTrue(verify.out().contains(": ok, train "), verify.out());

        Run encode = run("tokenizer", "encode", "--tokenizer", out.resolve("tokenizer.json").toString(), "a<|endoftext|>");
        assertEquals(0, encode.code(), encode.err());
        assertTrue(encode.out().strip().endsWith(" 0"), "end-of-text is id 0: " + encode.out());
    }
}
