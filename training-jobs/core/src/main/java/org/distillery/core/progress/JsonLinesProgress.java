package org.distillery.core.progress;

import java.io.PrintStream;

/** Writes each event as one JSON line, flushed at once, for programs that read a job's stdout. */
public final class JsonLinesProgress implements ProgressListener {
    private final PrintStream out;

    public JsonLinesProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public synchronized void on(ProgressEvent event) {
        out.println(event.toJson());
        out.flush();
    }
}
