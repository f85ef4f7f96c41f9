package org.distillery.core.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpecReaderTest {
    @TempDir
    Path dir;

    private String error(String yaml) throws Exception {
        Path f = dir.resolve("spec.yaml");
        Files.writeString(f, yaml);
        return assertThrows(DistilleryException.class, () -> SpecReader.read(f, PrepSpec.class)).getMessage();
    }

    @Test
    void readsDefaults() throws Exception {
        Path f = dir.resolve("ok.yaml");
        Files.writeString(f, "name: x\nsources:\n  - path: a.txt\n    format: text\n");
        PrepSpec s = SpecReader.read(f, PrepSpec.class);
        assertEquals(4096, s.tokenizer().vocabSize());
        assertEquals(DocUnit.FILE, s.sources().get(0).docUnit());
        assertNull(s.spark().master(), "unset: the command line's or the submitter's master, else local[*]");
    }

    @Test
    void syntaxErrorNamesFileAndLine() throws Exception {
        String msg = error("name: x\nsources:\n  - path: a\n   format: [text\n");
        assertTrue(msg.startsWith(dir.resolve("spec.yaml") + ":"), msg);
        assertTrue(msg.contains("YAML syntax error"), msg);
        assertTrue(msg.matches("(?s).*spec\\.yaml:[34]:.*"), msg);
    }

    @Test
    void unknownFieldNamesFieldLineAndWhatIsAllowed() throws Exception {
        String msg = error("name: x\nsources:\n  - path: a\n    format: text\nfilters:\n  min_char: 3\n");
        assertTrue(msg.contains("spec.yaml:6:"), msg);
        assertTrue(msg.contains("unknown field 'min_char' in 'filters'"), msg);
        assertTrue(msg.contains("did you mean 'min_chars'?"), msg);
        assertTrue(msg.contains("allowed: max_chars"), msg);
    }

    @Test
    void wrongTypeAndBadEnumNameTheField() throws Exception {
        String msg = error("name: x\nsources:\n  - path: a\n    format: text\ntokenizer:\n  vocab_size: lots\n");
        assertTrue(msg.contains("spec.yaml:6:") && msg.contains("'tokenizer.vocab_size' must be an integer"), msg);
        msg = error("name: x\nsources:\n  - path: a\n    format: txt\n");
        assertTrue(msg.contains("spec.yaml:4:") && msg.contains("sources[0].format") && msg.contains("jsonl"), msg);
    }

    @Test
    void validationProblemsCarryTheirLine() throws Exception {
        String msg = error("name: x\nsources:\n  - path: a\n    format: text\nsplit:\n  val_fraction: 0.9\n"
                + "dedup:\n  near:\n    jaccard_threshold: 2\n");
        assertTrue(msg.contains("spec.yaml:6: split.val_fraction must be between"), msg);
        assertTrue(msg.contains("spec.yaml:9: dedup.near.jaccard_threshold must be between"), msg);
        msg = error("name: x\nsources:\n  - dataset: a\n    path: b\n");
        assertTrue(msg.contains("spec.yaml:3: sources[0] needs exactly one of"), msg);
        msg = error("sources: []\n");
        assertTrue(msg.contains("name is required") && msg.contains("sources must list"), msg);
    }

    @Test
    void missingOrUnreadableFileIsNamed() {
        Path missing = dir.resolve("nope.yaml");
        String msg = assertThrows(DistilleryException.class, () -> SpecReader.read(missing, PrepSpec.class)).getMessage();
        assertEquals(missing + ": spec file not found", msg);
        msg = assertThrows(DistilleryException.class, () -> SpecReader.read(dir, PrepSpec.class)).getMessage();
        assertTrue(msg.startsWith(dir + ": cannot read spec file"), msg);
    }

    @Test
    void emptyOrNonMappingSpecIsAnError() throws Exception {
        assertTrue(error("").contains("the spec is empty"));
        String msg = error("- a\n- b\n");
        assertTrue(msg.contains("spec.yaml:1:") && msg.contains("mapping of fields"), msg);
    }
}
