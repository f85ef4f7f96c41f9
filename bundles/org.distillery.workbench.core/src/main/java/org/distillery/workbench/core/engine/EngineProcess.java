package org.distillery.workbench.core.engine;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.distillery.core.progress.ProgressEvent;

/**
 * A running engine job: its stderr read line by line into progress events and console lines (the engine's
 * errors and logs), its stdout (the results) into console lines, and a two-step stop (SIGTERM, which lets a
 * training job checkpoint and close its run, then SIGKILL when the grace period is over).
 */
public final class EngineProcess {

    /** What the job says, called on the reader threads in the order each stream delivers it. */
    public interface Listener {
        void event(ProgressEvent event);

        /** A line of output that is no event; {@code error} for stderr. */
        void console(String line, boolean error);
    }

    private final Process process;
    private final Thread out;
    private final Thread err;
    private volatile boolean stopRequested;

    private EngineProcess(Process process, Listener listener) {
        this.process = process;
        this.out = reader(process.getInputStream(), listener, false);
        this.err = reader(process.getErrorStream(), listener, true);
    }

    public static EngineProcess start(EngineCommand command, Listener listener) {
        ProcessBuilder pb = new ProcessBuilder(command.command()).directory(command.directory().toFile());
        pb.environment().putAll(command.environment());
        try {
            return new EngineProcess(pb.start(), listener);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command.command().get(0) + ": " + e.getMessage(), e);
        }
    }

    private static Thread reader(InputStream in, Listener listener, boolean error) {
        Thread t = new Thread(() -> {
            long lineNumber = 0;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lineNumber++;
                    if (!error) {
                        listener.console(line, false);
                        continue;
                    }
                    try {
                        var event = ProgressEvent.read(line, lineNumber);
                        if (event.isPresent()) {
                            listener.event(event.get());
                        } else {
                            listener.console(line, true);
                        }
                    } catch (IllegalArgumentException e) {
                        listener.console(line, true);
                        listener.console("stderr " + e.getMessage(), true);
                    }
                }
            } catch (IOException e) {
                listener.console("output lost: " + e.getMessage(), true);
            }
        }, "distillery-job-" + (error ? "stderr" : "stdout"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public boolean stopRequested() {
        return stopRequested;
    }

    /** Waits for the job to end and for all its output to be read; returns its exit status. */
    public int waitFor() throws InterruptedException {
        int status = process.waitFor();
        out.join();
        err.join();
        return status;
    }

    /**
     * Stops the job: SIGTERM first (a training job finishes its step, checkpoints and marks its run
     * KILLED), SIGKILL if it is still running after {@code grace}. Returns whether it needed the kill.
     * {@code Process.destroy} is not used: it would also close the pipes the output is read from.
     */
    public boolean stop(Duration grace) throws InterruptedException {
        stopRequested = true;
        process.toHandle().destroy();
        if (process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            return false;
        }
        process.toHandle().destroyForcibly();
        process.waitFor();
        return true;
    }
}
