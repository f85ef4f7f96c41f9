package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Python child that hangs with its output held open by a process it started (a serving reader, a benchmark
 * peer) is stopped at its timeout, with an error that names it and the timeout. The bounds only catch a hang.
 */
class PeerTimeoutTest {
    @TempDir
    Path dir;
    Path python;

    @BeforeEach
    void hangingPython() throws Exception {
        python = dir.resolve("python");
        Files.writeString(python, "#!/bin/sh\nsleep 600 &\nexec sleep 600\n");
        assertTrue(python.toFile().setExecutable(true));
    }

    @Test
    void aServingReaderThatHangsIsStopped() {
        DistilleryException e = assertTimeoutPreemptively(Duration.ofMinutes(2), () -> assertThrows(
                DistilleryException.class, () -> ServingReader.run("export_consumers.py", python.toString(), List.of(),
                        "gguf", dir.resolve("model.gguf"), Duration.ofSeconds(2))));
        assertTrue(e.getMessage().startsWith("the gguf runtime (" + python + " export_consumers.py) did not finish"
                + " in 2 s"), e.getMessage());
    }

    @Test
    void aBenchmarkPeerThatHangsIsStopped() {
        ProcessBuilder pb = new ProcessBuilder(python.toString(), "peer.py");
        DistilleryException e = assertTimeoutPreemptively(Duration.ofMinutes(2), () -> assertThrows(
                DistilleryException.class, () -> BenchCommand.runPeer(pb, "PyTorch", "torch", "bin/setup-python --torch",
                        Duration.ofSeconds(2))));
        assertTrue(e.getMessage().startsWith("the PyTorch peer (" + python + " peer.py) did not finish in 2 s"),
                e.getMessage());
    }
}
