package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;
import org.distillery.model.DistillJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "distill", description = "Distill a teacher (a checkpoint or a Hugging Face GPT-2 folder) into a smaller"
        + " student on prep shards, tracked in MLflow or the local run store.")
final class DistillCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the distill spec (YAML)")
    Path specFile;

    @Option(names = "--out", description = "output folder (default: <work-dir>/distill/<name>)")
    Path out;

    @Option(names = "--resume", description = "continue from the newest checkpoint in the output folder")
    boolean resume;

    @Option(names = "--parent-run", description = "nest this run under a pipeline's run (a run id)")
    String parentRun;

    @Override
    public Integer call() throws Exception {
        SpecReader.Located<DistillSpec> located = SpecReader.readLocated(specFile, DistillSpec.class);
        DistillSpec spec = located.spec();
        Path data = TrainingLaunch.shards(top, specFile, located, spec.data());
        Path teacherPath = teacher(located, specFile.toAbsolutePath().getParent());
        Checkpoint teacher = Files.isDirectory(teacherPath) ? HfImporter.read(teacherPath, Distillery.version())
                : Checkpoint.read(teacherPath);
        Path output = out != null ? out.toAbsolutePath() : top.workDir().resolve("distill").resolve(spec.name());
        String resumeRunId = TrainingLaunch.resumeRunId(output, resume);
        TrainingLaunch.run(top, DistillJob.JOB, spec.name(), spec.tracking(), parentRun, resumeRunId, specFile, "student",
                false, (run, progress) -> new DistillJob(located, teacher, teacherPath.toString(), data, output, resume,
                        run, progress, Distillery.version(), System.err).run());
        return 0;
    }

    /** The teacher: a path relative to the spec's folder, else to the work dir; a checkpoint or an HF folder. */
    private Path teacher(SpecReader.Located<DistillSpec> located, Path specDir) {
        String t = located.spec().teacher();
        for (Path p : new Path[] {specDir.resolve(t).normalize(), top.workDir().resolve(t).normalize()}) {
            if (Files.isRegularFile(p) || Files.isRegularFile(p.resolve("config.json"))) {
                return p;
            }
        }
        throw located.error("teacher", "is " + t + ", which is neither a checkpoint nor a Hugging Face folder (with"
                + " config.json) relative to " + specDir + " or to the work dir " + top.workDir());
    }
}
