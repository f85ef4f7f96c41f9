package org.distillery.core.process;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.distillery.core.DistilleryException;

/**
 * A child process run to its end or to a deadline, whichever comes first. Its stdout and stderr (where the
 * {@link ProcessBuilder} leaves them as pipes) are read on threads of their own, so neither a full pipe nor a
 * process that holds one open (a grandchild started in the background) can keep the caller waiting past the
 * deadline. At the deadline, or when the waiting thread is interrupted, the child and every process it started
 * are stopped: asked first (SIGTERM), then killed.
 */
public final class ChildProcess {
    /** How often the waiting thread notes the child's descendants, so that those orphaned later can be stopped. */
    private static final long NOTE_DESCENDANTS_MS = 1000;
    /** How long the stopped processes have to end on their own before they are killed. */
    private static final Duration GRACE = Duration.ofSeconds(5);
    /** A bound on waiting for killed processes to go: only a process stuck in the kernel takes longer. */
    private static final Duration KILLED = Duration.ofMinutes(1);

    /** How the child ended and what it wrote on the streams that were read (empty for those redirected). */
    public record Result(int exitCode, String stdout, String stderr) {
    }

    /** The child did not end in time; it and its descendants have been stopped. */
    public static final class TimedOut extends DistilleryException {
        private static final long serialVersionUID = 1L;

        TimedOut(String message) {
            super(message);
        }
    }

    private final Process process;
    private final String command;
    private final CompletableFuture<String> stdout;
    private final CompletableFuture<String> stderr;
    private final Set<ProcessHandle> noted = new LinkedHashSet<>();

    private ChildProcess(Process process, String command, Consumer<String> stderrLines) {
        this.process = process;
        this.command = command;
        this.stdout = drain(process.getInputStream(), "stdout", null);
        this.stderr = drain(process.getErrorStream(), "stderr", stderrLines);
    }

    /** As {@link #start(ProcessBuilder, String, Consumer)}, stderr (if a pipe) kept for the {@link Result}. */
    public static ChildProcess start(ProcessBuilder pb, String command) throws IOException {
        return start(pb, command, line -> { });
    }

    /**
     * Starts {@code pb}, its stdin closed (nothing answers a child that asks). {@code command} names it in errors;
     * each line it writes on stderr, if that is a pipe, goes to {@code stderrLines} as it comes.
     *
     * @throws IOException when it cannot start (the program is missing, not executable)
     */
    public static ChildProcess start(ProcessBuilder pb, String command, Consumer<String> stderrLines)
            throws IOException {
        Process p = pb.start();
        try {
            p.getOutputStream().close();
        } catch (IOException e) {
            // it has already gone: its end is what the caller will see
        }
        return new ChildProcess(p, command, stderrLines);
    }

    /** The process, for a caller that watches its descendants. */
    public ProcessHandle handle() {
        return process.toHandle();
    }

    /**
     * Waits until the child has ended and its output has been read, at most {@code timeout}.
     *
     * @throws TimedOut when it has not, naming the command and the timeout; the child and its descendants are
     *     stopped first
     * @throws InterruptedException when the waiting thread is interrupted; the child and its descendants are
     *     stopped first
     */
    public Result await(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        CompletableFuture<Void> done = CompletableFuture.allOf(process.onExit(), stdout, stderr);
        try {
            while (true) {
                if (process.isAlive()) {
                    // a descendant orphaned later (its parent gone) is no longer among the child's descendants
                    process.descendants().forEach(noted::add);
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    stop();
                    throw new TimedOut(command + " did not finish in " + describe(timeout)
                            + "; it was stopped, with the processes it started");
                }
                try {
                    done.get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(NOTE_DESCENDANTS_MS)), TimeUnit.NANOSECONDS);
                    return new Result(process.exitValue(), stdout.join(), stderr.join());
                } catch (TimeoutException e) {
                    // not yet: note its descendants again, then wait on
                }
            }
        } catch (InterruptedException e) {
            stop();
            throw e;
        } catch (ExecutionException e) {
            stop();
            // a stream's reader failed (its message names the command), or the stderr consumer threw
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }

    /** Stops the child and every descendant known: SIGTERM to all, then SIGKILL to those still there. */
    private void stop() {
        Set<ProcessHandle> tree = new LinkedHashSet<>(noted);
        tree.add(process.toHandle());
        process.descendants().forEach(tree::add);
        tree.forEach(ProcessHandle::destroy);
        awaitEnd(tree, GRACE);
        // those that ignored the request may have started others meanwhile
        for (ProcessHandle h : List.copyOf(tree)) {
            if (running(h)) {
                h.descendants().forEach(tree::add);
            }
        }
        tree.stream().filter(ChildProcess::running).forEach(ProcessHandle::destroyForcibly);
        awaitEnd(tree, KILLED);
    }

    private static void awaitEnd(Set<ProcessHandle> tree, Duration bound) {
        long end = System.nanoTime() + bound.toNanos();
        while (tree.stream().anyMatch(ChildProcess::running) && System.nanoTime() < end) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // the caller is leaving: it will still send SIGKILL
                return;
            }
        }
    }

    /**
     * Whether {@code h} still runs. A killed process whose parent has gone stays a zombie until init reaps it,
     * and {@link ProcessHandle#isAlive()} counts a zombie as alive; where /proc says so, it is not running.
     */
    public static boolean running(ProcessHandle h) {
        if (!h.isAlive()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(h.pid()), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException | RuntimeException e) {
            return h.isAlive(); // no /proc (not Linux), or it went meanwhile
        }
    }

    /** "10 minutes", "1 hour", "90 s". */
    static String describe(Duration d) {
        long s = d.toSeconds();
        if (s > 0 && s % 3600 == 0) {
            return s / 3600 + (s == 3600 ? " hour" : " hours");
        }
        if (s > 0 && s % 60 == 0) {
            return s / 60 + (s == 60 ? " minute" : " minutes");
        }
        return s + " s";
    }

    /**
     * Reads {@code in} to its end on a daemon thread of its own: as it is, or (given {@code lines}) line by line,
     * each line handed on as it comes.
     */
    private CompletableFuture<String> drain(InputStream in, String which, Consumer<String> lines) {
        CompletableFuture<String> text = new CompletableFuture<>();
        Supplier<String> read = () -> {
            try (in) {
                if (lines == null) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                StringBuilder all = new StringBuilder();
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                for (String line; (line = r.readLine()) != null; ) {
                    all.append(line).append('\n');
                    lines.accept(line);
                }
                return all.toString();
            } catch (IOException e) {
                throw new UncheckedIOException(new IOException("cannot read the " + which + " of " + command
                        + ": " + e.getMessage(), e));
            }
        };
        Thread t = new Thread(() -> {
            try {
                text.complete(read.get());
            } catch (RuntimeException e) {
                text.completeExceptionally(e);
            }
        }, which + " of " + command);
        // a grandchild that never closes the pipe must not keep the JVM from exiting
        t.setDaemon(true);
        t.start();
        return text;
    }
}
