package org.distillery.workbench.core.log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class LogEntryTest {
    /** As Equinox's log writer writes it: a session header, entries, a multi-status with a child, a stack trace. */
    private static final String LOG = """
            !SESSION 2026-12-01 02:10:00.123 -----------------------------------------------
            eclipse.buildId=unknown
            java.version=25.0.1
            Command-line arguments:  -data /tmp/ws

            !ENTRY org.distillery.workbench 4 0 2026-12-01 02:10:05.123
            !MESSAGE train bad-train.yaml failed: /tmp/specs/bad-train.yaml:6: unknown field 'stepz' in 'training' \
            (did you mean 'steps'?)

            !ENTRY org.eclipse.e4.ui.workbench 4 0 2026-12-01 02:10:06.001
            !MESSAGE Unable to create class 'org.example.Part' from bundle '42'
            !STACK 0
            java.lang.ClassNotFoundException: org.example.Part
            \tat org.eclipse.osgi.internal.loader.BundleLoader.findClass(BundleLoader.java:541)

            !ENTRY org.distillery.workbench 2 0 2026-12-01 02:10:07.500
            !MESSAGE two problems
            second line of the message
            !SUBENTRY 1 org.distillery.workbench 2 0 2026-12-01 02:10:07.500
            !MESSAGE the child
            !ENTRY org.distillery.workbench 4 0 2026-12-01 02:10:08.000
            !MESSAGE MLflow at http://127.0.0.1:5000 refused the connection
            """;

    @Test
    void readsEachTopLevelEntryWithItsSeverityMessageAndStack() {
        List<LogEntry> entries = LogEntry.parse(LOG);
        assertEquals(4, entries.size(), entries.toString());
        LogEntry failed = entries.get(0);
        assertEquals("2026-12-01 02:10:05.123", failed.time());
        assertEquals("org.distillery.workbench", failed.plugin());
        assertEquals(LogEntry.Severity.ERROR, failed.severity());
        assertTrue(failed.message().startsWith("train bad-train.yaml failed: /tmp/specs/bad-train.yaml:6: "), failed.message());
        assertEquals("", failed.stack());
        assertTrue(entries.get(1).stack().startsWith("java.lang.ClassNotFoundException: org.example.Part\n\tat "),
                entries.get(1).stack());
        assertEquals(LogEntry.Severity.WARNING, entries.get(2).severity());
        assertEquals("two problems\nsecond line of the message", entries.get(2).message(), "the child is left out");
        assertEquals("MLflow at http://127.0.0.1:5000 refused the connection", entries.get(3).message());
    }

    @Test
    void aMessageNamingAFileAndLinePointsThere() {
        List<LogEntry> entries = LogEntry.parse(LOG);
        assertEquals(new LogEntry.SourceLine(Path.of("/tmp/specs/bad-train.yaml"), 6), entries.get(0).source().orElseThrow());
        assertTrue(entries.get(1).source().isEmpty(), "a class name is no file: " + entries.get(1).source());
        assertTrue(entries.get(3).source().isEmpty(), "a URL's port is no line: " + entries.get(3).source());
        LogEntry relative = new LogEntry("t", "p", LogEntry.Severity.ERROR, "pipelines/demo/train.yaml:12: bad", "");
        assertEquals(new LogEntry.SourceLine(Path.of("pipelines/demo/train.yaml"), 12), relative.source().orElseThrow());
    }

    @Test
    void textWithoutEntriesHasNone() {
        assertTrue(LogEntry.parse("").isEmpty());
        assertTrue(LogEntry.parse("!SESSION x\nnot a log\n").isEmpty());
    }
}
