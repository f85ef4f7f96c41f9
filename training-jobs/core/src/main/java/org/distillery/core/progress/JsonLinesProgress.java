package org.distillery.core.progress;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.io.FileAccessException;

/**
 * Writes each event as one JSON line, flushed at once, for programs that follow a job: on stderr, apart from the
 * results on stdout, or into a file the caller names.
 */
public final class JsonLinesProgress implements ProgressListener {
    private final PrintStream out;
    private final boolean owned;

    public JsonLinesProgress(PrintStream out) {
        this(out, false);
    }

    private JsonLinesProgress(PrintStream out, boolean owned) {
        this.out = out;
        this.owned = owned;
    }

    /** Events into {@code file}, replacing what it held; closed with this listener. */
    public static JsonLinesProgress toFile(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            return new JsonLinesProgress(new PrintStream(Files.newOutputStream(file), true, StandardCharsets.UTF_8),
                    true);
        } catch (IOException e) {
            throw new UncheckedIOException(FileAccessException.of(file, e));
        }
    }

    @Override
    public synchronized void on(ProgressEvent event) {
        out.println(event.toJson());
        out.flush();
    }

    @Override
    public synchronized void close() {
        if (owned) {
            out.close();
        }
    }
}
