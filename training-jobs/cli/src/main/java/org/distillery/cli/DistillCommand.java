package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.tracking.RunStatus;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;
import org.distillery.model.DistillJob;
import org.distillery.model.TrainJob;
import org.distillery.tracking.TrackedRun;
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
        Path specDir = specFile.toAbsolutePath().getParent();
        Path data = spec.data().prep() != null ? top.workDir().resolve("prep").resolve(spec.data().prep())
                : specDir.resolve(spec.data().path()).normalize();
        if (!Files.exists(data.resolve(ShardManifest.FILE_NAME))) {
            throw located.error("data", "points at " + data + ", which holds no prep output (no "
                    + ShardManifest.FILE_NAME + "): run distillery prep first");
        }
        Path teacherPath = teacher(located, specDir);
        Checkpoint teacher = Files.isDirectory(teacherPath) ? HfImporter.read(teacherPath, Distillery.version())
                : Checkpoint.read(teacherPath);
        Path output = out != null ? out.toAbsolutePath() : top.workDir().resolve("distill").resolve(spec.name());
        Path newest = TrainJob.newestCheckpoint(output);
        if (!resume && newest != null) {
            throw new DistilleryException(output + " already holds checkpoints: pass --resume to continue that run, "
                    + "or --out for a new folder");
        }
        String resumeRunId = newest != null ? Checkpoint.readHeader(newest).runId() : null;
        String experiment = spec.tracking().experiment() != null ? spec.tracking().experiment() : spec.name();
        try (ProgressListener progress = top.progress(System.out);
             TrackedRun run = TrackedRun.open(top.runStore(), top.trackingUri(spec.tracking().uri()), experiment,
                     "distill-" + spec.name(), parentRun, resumeRunId, System.err)) {
            TrainJob.Result r;
            try {
                r = new DistillJob(located, teacher, teacherPath.toString(), data, output, resume, run, progress,
                        Distillery.version(), System.err).run();
                run.logArtifact(specFile, "spec");
                run.logArtifact(r.model(), "model");
                run.finish(RunStatus.FINISHED);
            } catch (RuntimeException e) {
                progress.on(ProgressEvent.failed(DistillJob.JOB, e.getMessage()));
                run.finish(RunStatus.FAILED);
                throw e;
            }
            progress.on(ProgressEvent.done(DistillJob.JOB, r.model().toString()));
            if (!top.showsJson()) {
                System.out.println("student        " + r.model());
                System.out.println("run            " + run.runId()
                        + (run.mlflowRunId() != null ? " (MLflow " + run.mlflowRunId() + ")" : ""));
                System.out.printf("train loss     %.4f%n", r.trainLoss());
                System.out.printf("val loss       %.4f (perplexity %.2f)%n", r.valLoss(), r.valPerplexity());
                System.out.printf("speed          %.0f tokens/s, %.1f ms/step%n", r.tokensPerSecond(), r.msPerStep());
            }
        }
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
