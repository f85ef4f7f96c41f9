package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunStatus;
import org.distillery.model.Checkpoint;
import org.distillery.model.TrainJob;
import org.distillery.tracking.TrackedRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "train", description = "Train a GPT-2 on prep shards (ND4J), tracked in MLflow or the local run store.")
final class TrainCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the train spec (YAML)")
    Path specFile;

    @Option(names = "--out", description = "output folder (default: <work-dir>/train/<name>)")
    Path out;

    @Option(names = "--resume", description = "continue from the newest checkpoint in the output folder")
    boolean resume;

    @Option(names = "--parent-run", description = "nest this run under a pipeline's run (a run id)")
    String parentRun;

    @Override
    public Integer call() throws Exception {
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(specFile, TrainSpec.class);
        TrainSpec spec = located.spec();
        Path data = spec.data().prep() != null ? top.workDir().resolve("prep").resolve(spec.data().prep())
                : specFile.toAbsolutePath().getParent().resolve(spec.data().path()).normalize();
        if (!Files.exists(data.resolve(ShardManifest.FILE_NAME))) {
            throw located.error("data", "points at " + data + ", which holds no prep output (no "
                    + ShardManifest.FILE_NAME + "): run distillery prep first");
        }
        Path output = out != null ? out.toAbsolutePath() : top.workDir().resolve("train").resolve(spec.name());
        Path newest = TrainJob.newestCheckpoint(output);
        if (!resume && newest != null) {
            throw new DistilleryException(output + " already holds checkpoints: pass --resume to continue that run, "
                    + "or --out for a new folder");
        }
        String resumeRunId = newest != null ? Checkpoint.readHeader(newest).runId() : null;
        String experiment = spec.tracking().experiment() != null ? spec.tracking().experiment() : spec.name();
        try (ProgressListener progress = top.progress(System.out);
             TrackedRun run = TrackedRun.open(top.runStore(), top.trackingUri(spec.tracking().uri()), experiment,
                     "train-" + spec.name(), parentRun, resumeRunId, System.err)) {
            TrainJob.Result r;
            try {
                r = new TrainJob(located, data, output, resume, run, progress, Distillery.version()).run();
                run.logArtifact(specFile, "spec");
                Path tokenizer = data.resolve(ShardManifest.read(data).tokenizer().file());
                run.logArtifact(tokenizer, "tokenizer");
                run.logArtifact(r.model(), "model");
                run.finish(RunStatus.FINISHED);
            } catch (RuntimeException e) {
                progress.on(ProgressEvent.failed(TrainJob.JOB, e.getMessage()));
                run.finish(RunStatus.FAILED);
                throw e;
            }
            progress.on(ProgressEvent.done(TrainJob.JOB, r.model().toString()));
            if (!top.showsJson()) {
                System.out.println("model          " + r.model());
                System.out.println("run            " + run.runId()
                        + (run.mlflowRunId() != null ? " (MLflow " + run.mlflowRunId() + ")" : ""));
                System.out.printf("train loss     %.4f%n", r.trainLoss());
                System.out.printf("val loss       %.4f (perplexity %.2f)%n", r.valLoss(), r.valPerplexity());
                System.out.printf("unigram entropy of val tokens %.4f nats: the model is %.4f nats below it%n",
                        r.unigramEntropy(), r.unigramEntropy() - r.valLoss());
                System.out.printf("speed          %.0f tokens/s, %.1f ms/step%n", r.tokensPerSecond(), r.msPerStep());
            }
        }
        return 0;
    }

}
