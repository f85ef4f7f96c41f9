package org.distillery.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options of a command that trains a model into a folder of checkpoints ({@code train}, {@code distill}). */
final class TrainingRunOptions {
    @Option(names = "--out", description = "output folder (default: <work-dir>/<command>/<name>)")
    Path out;

    @Option(names = "--resume", description = "continue from the newest checkpoint in the output folder")
    boolean resume;

    @Option(names = "--parent-run", description = "nest this run under a pipeline's run (a run id)")
    String parentRun;

    /** {@code --out}, else {@code <work-dir>/<command>/<name>}. */
    Path output(Distillery top, String command, String name) {
        return out != null ? out.toAbsolutePath() : top.workDir().resolve(command).resolve(name);
    }
}
