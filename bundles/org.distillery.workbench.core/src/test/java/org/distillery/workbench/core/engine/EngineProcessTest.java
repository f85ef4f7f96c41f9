package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.distillery.core.progress.ProgressEvent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Process handling against small shell programs that behave like a job (the real engine is launched
 * by the workbench UI test): output split into events and console lines, exit status, and the
 * two-step stop.
 */
class EngineProcessTest {
    @TempDir
    Path tmp;

    private final List<ProgressEvent> events = new CopyOnWriteArrayList<>();
    private final List<String> console = new CopyOnWriteArrayList<>();
    private final CountDownLatch started = new CountDownLatch(1);

    private final EngineProcess.Listener listener = new EngineProcess.Listener() {
        @Override
        public void event(ProgressEvent event) {
            events.add(event);
            started.countDown();
        }

        @Override
        public void console(String line, boolean error) {
            console.add((error ? "err: " : "out: ") + line);
        }
    };

    private EngineCommand script(String body) throws Exception {
        Path s = tmp.resolve("job.sh");
        Files.writeString(s, "#!/bin/bash\n" + body);
        Files.setPosixFilePermissions(s, PosixFilePermissions.fromString("rwx------"));
        return new EngineCommand(List.of(s.toString()), Map.of("GREETING", "hi"), tmp);
    }

    private static String event(String json) {
        return "echo '{\"schema\":\"distillery.progress/1\",\"job\":\"train\"," + json + "}' >&2\n";
    }

    @Test
    void stderrBecomesEventsAndErrorLinesStdoutResultLines() throws Exception {
        EngineProcess p = EngineProcess.start(script("echo \"$GREETING from $(pwd)\"\n"
                + "echo 'val loss       5.1234'\n"
                + event("\"type\":\"stage\",\"stage\":\"train\",\"index\":2,\"stages\":2")
                + event("\"type\":\"metric\",\"name\":\"train/loss\",\"value\":3.5,\"step\":10")
                + event("\"type\":\"progress\",\"stage\":\"train\",\"done\":\"x\"")
                + "echo 'error: the spec is wrong' >&2\nexit 2\n"), listener);
        assertEquals(2, p.waitFor());
        assertEquals(List.of("stage", "metric"), events.stream().map(ProgressEvent::type).toList());
        assertEquals(10L, ((ProgressEvent.Metric) events.get(1)).step());
        assertTrue(console.contains("out: hi from " + tmp), console.toString());
        assertTrue(console.contains("err: error: the spec is wrong"), console.toString());
        assertTrue(console.contains("out: val loss       5.1234"), console.toString());
        assertTrue(console.contains("err: stderr line 3: field done is \"x\", expected a number"), console.toString());
    }

    @Test
    void aJobThatHonoursSigtermStopsWithoutTheKill() throws Exception {
        Path marker = tmp.resolve("checkpointed");
        EngineProcess p = EngineProcess.start(script("trap 'touch " + marker + "; exit 143' TERM\n"
                + event("\"type\":\"stage\",\"stage\":\"train\",\"index\":1,\"stages\":1")
                + "while true; do sleep 0.05; done\n"), listener);
        assertTrue(started.await(10, TimeUnit.SECONDS));
        assertFalse(p.stop(Duration.ofSeconds(10)), "needed SIGKILL");
        assertEquals(143, p.waitFor());
        assertTrue(Files.exists(marker), "the TERM handler did not run");
        assertTrue(p.stopRequested());
    }

    @Test
    void aJobThatIgnoresSigtermIsKilledAfterTheGracePeriod() throws Exception {
        EngineProcess p = EngineProcess.start(script("trap '' TERM\n"
                + event("\"type\":\"stage\",\"stage\":\"train\",\"index\":1,\"stages\":1")
                + "while true; do sleep 0.05; done\n"), listener);
        assertTrue(started.await(10, TimeUnit.SECONDS));
        long t0 = System.nanoTime();
        assertTrue(p.stop(Duration.ofMillis(500)), "stopped without SIGKILL");
        assertTrue(System.nanoTime() - t0 >= 400_000_000L);
        assertEquals(137, p.waitFor());
        assertFalse(p.isAlive());
    }
}
