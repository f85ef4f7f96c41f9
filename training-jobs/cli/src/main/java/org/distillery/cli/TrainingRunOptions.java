package org.distillery.cli;

import java.nio.file.Path;
import org.distillery.core.io.Location;
import picocli.CommandLine.Option;

/** The options of a command that trains a model into a folder of checkpoints ({@code train}, {@code distill}). */
final class TrainingRunOptions {
    @Option(names = "--out", description = "output folder: a path, or a Hadoop file system URI such as"
            + " hdfs://namenode:8020/train/run1 (default: <work-dir>/<command>/<name>)")
    String out;

    @Option(names = "--resume", description = "continue from the newest checkpoint in the output folder")
    boolean resume;

    @Option(names = "--parent-run", description = "nest this run under a pipeline's run (a run id)")
    String parentRun;

    @Option(names = "--ranks", paramLabel = "N", description = "train over N ranks, one Spark task each, gradients"
            + " summed every step (default: the spec's distributed.ranks, else 1: one process)")
    Integer ranks;

    @Option(names = "--master", description = "the Spark master of a distributed run (default: spark-submit's, then the"
            + " spec's distributed.master, then local[*])")
    String master;

    /** The spec overrides these options make ({@code --ranks N}: {@code distributed.ranks=N}). */
    java.util.List<String> overrides() {
        if (ranks == null) {
            return java.util.List.of();
        }
        if (ranks < 1) {
            throw new org.distillery.core.DistilleryException("--ranks " + ranks + ": must be 1 (one process) or more"
                    + " ranks, one Spark task each");
        }
        return java.util.List.of("distributed.ranks=" + ranks);
    }

    /** {@code --out}, else {@code <work-dir>/<command>/<name>}. */
    Location output(Distillery top, String command, String name) {
        return out != null ? Location.parse(out, Path.of("").toAbsolutePath())
                : Location.of(top.workDir().resolve(command).resolve(name));
    }
}
