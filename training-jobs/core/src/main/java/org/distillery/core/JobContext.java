package org.distillery.core;

import java.io.PrintStream;
import java.nio.file.Path;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.tracking.RunTracker;

/**
 * What a job is given besides its spec and its inputs: the folder it writes, whether it resumes from what
 * is there, the run it tracks into, where its progress events and warnings go, and the Distillery version
 * its outputs record.
 */
public record JobContext(Path output, boolean resume, RunTracker tracker, ProgressListener progress, String version,
                         PrintStream warnings) {

    /** Writing {@code output} afresh into {@code tracker}, with no progress shown and warnings on stderr. */
    public static JobContext of(Path output, RunTracker tracker, String version) {
        return new JobContext(output, false, tracker, ProgressListener.NONE, version, System.err);
    }

    public JobContext resuming(boolean r) {
        return new JobContext(output, r, tracker, progress, version, warnings);
    }

    public JobContext reportingTo(ProgressListener p) {
        return new JobContext(output, resume, tracker, p, version, warnings);
    }

    public JobContext warningTo(PrintStream w) {
        return new JobContext(output, resume, tracker, progress, version, w);
    }
}
