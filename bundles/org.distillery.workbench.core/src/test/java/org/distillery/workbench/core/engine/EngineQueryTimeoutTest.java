package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.distillery.core.process.ChildProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An engine that never answers, its output held open by a process it started, is stopped at the query's timeout
 * with all it started. The 2 s timeout is the thing under test; the minutes-long bound only catches a hang.
 */
class EngineQueryTimeoutTest {
    @TempDir
    Path tmp;

    @Test
    void anEngineThatHangsIsStoppedWithWhatItStartedAtTheTimeout() throws Exception {
        Path launcher = tmp.resolve("distillery");
        Path pids = tmp.resolve("pids");
        Files.createDirectories(tmp.resolve("work"));
        Files.writeString(launcher, "#!/bin/sh\nsleep 600 &\necho $$ $! > " + pids + "\nexec sleep 600\n");
        assertTrue(launcher.toFile().setExecutable(true));
        EngineSettings settings = new EngineSettings(launcher, tmp.resolve("work"), "", "local[2]", null,
                EngineSettings.Backend.CPU);
        EngineQuery engine = new EngineQuery(settings, 2);
        EngineQuery.EngineQueryException e = assertTimeoutPreemptively(Duration.ofMinutes(2), () -> assertThrows(
                EngineQuery.EngineQueryException.class, () -> engine.json("datasets", "list", "--json")));
        assertTrue(e.getMessage().startsWith(launcher + " --progress=none"), e.getMessage());
        assertTrue(e.getMessage().endsWith(": no answer in 2 s"), e.getMessage());
        for (String pid : Files.readString(pids).trim().split(" ")) {
            assertFalse(ProcessHandle.of(Long.parseLong(pid)).map(ChildProcess::running).orElse(false),
                    "process " + pid + " still runs");
        }
    }
}
