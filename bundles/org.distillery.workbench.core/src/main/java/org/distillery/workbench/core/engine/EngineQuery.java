package org.distillery.workbench.core.engine;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.distillery.core.process.ChildProcess;

/**
 * A short engine command whose answer is one JSON document on stdout ({@code datasets list --json},
 * {@code validate … --json}, {@code exports list --json}): the views ask the engine rather than
 * re-reading its specs with code of their own. Run it off the UI thread; it starts a JVM.
 */
public final class EngineQuery {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final EngineSettings settings;
    private final long timeoutSeconds;

    public EngineQuery(EngineSettings settings, long timeoutSeconds) {
        this.settings = settings;
        this.timeoutSeconds = timeoutSeconds;
    }

    /**
     * The command line for {@code args}, with the settings' work dir, tracking and environment; no progress events
     * unless {@code args} ask for them ({@code --progress=json}).
     */
    public EngineCommand command(List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(settings.launcher().toString());
        if (args.stream().noneMatch(a -> a.startsWith("--progress="))) {
            cmd.add("--progress=none");
        }
        cmd.add("--work-dir=" + settings.workDir());
        if (!settings.trackingUri().isEmpty()) {
            cmd.add("--tracking-uri=" + settings.trackingUri());
        }
        cmd.addAll(args);
        return new EngineCommand(cmd, settings.environment(),
                Files.isDirectory(settings.engine()) ? settings.engine() : settings.workDir());
    }

    /** What a command printed and how it ended. */
    public record Answer(int exitCode, String stdout, String stderr) {
        /** The engine's own message ({@code error: …}), else its last stderr line. */
        public String error() {
            return errorLine(stderr, exitCode);
        }
    }

    /**
     * Runs the command and reads its JSON answer. An answer is returned whatever the exit code (the
     * validator exits 2 with its problems as JSON); without one, the engine's {@code error:} line is
     * the exception's message.
     */
    public JsonNode json(String... args) {
        EngineCommand c = command(List.of(args));
        Answer a = run(c);
        String body = a.stdout().strip();
        if (body.startsWith("{")) {
            try {
                return JSON.readTree(body);
            } catch (JsonProcessingException e) {
                throw new EngineQueryException(c.display() + ": the answer is not JSON: " + e.getOriginalMessage(), e);
            }
        }
        throw new EngineQueryException(a.error());
    }

    /** Runs {@code args} to the end (or the timeout). */
    public Answer run(String... args) {
        return run(command(List.of(args)));
    }

    /**
     * Runs {@code args} to the end (or the timeout), handing each line the engine writes on stderr (its JSON progress
     * events with {@code --progress json}) to {@code stderrLines} as it comes.
     */
    public Answer run(java.util.function.Consumer<String> stderrLines, String... args) {
        return run(command(List.of(args)), stderrLines);
    }

    private Answer run(EngineCommand c) {
        return run(c, line -> { });
    }

    private Answer run(EngineCommand c, java.util.function.Consumer<String> stderrLines) {
        ProcessBuilder pb = new ProcessBuilder(c.command()).directory(c.directory().toFile());
        pb.environment().putAll(c.environment());
        ChildProcess p;
        try {
            p = ChildProcess.start(pb, c.display(), stderrLines);
        } catch (IOException e) {
            throw new EngineQueryException("cannot start the engine " + c.command().get(0) + ": " + e.getMessage()
                    + " (set it in Distillery > Preferences)", e);
        }
        try {
            ChildProcess.Result r = p.await(Duration.ofSeconds(timeoutSeconds));
            return new Answer(r.exitCode(), r.stdout(), r.stderr());
        } catch (ChildProcess.TimedOut e) {
            // stopped with the processes it started (a serving reader's Python, say)
            throw new EngineQueryException(c.display() + ": no answer in " + timeoutSeconds + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EngineQueryException("interrupted while the engine ran " + c.display(), e);
        }
    }

    /** The engine's own message ({@code error: …}), else its last stderr line. */
    static String errorLine(String stderr, int exit) {
        List<String> lines = stderr.lines().filter(l -> !l.isBlank() && !l.startsWith("WARNING:")).toList();
        for (String l : lines) {
            if (l.startsWith("error: ")) {
                return l.substring("error: ".length());
            }
        }
        return lines.isEmpty() ? "the engine exited with code " + exit + " and said nothing"
                : lines.get(lines.size() - 1) + " (exit code " + exit + ")";
    }

    /** The engine could not answer: its message, ready for a dialog. */
    public static final class EngineQueryException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public EngineQueryException(String message) {
            super(message);
        }

        public EngineQueryException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
