package org.distillery.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.distillery.core.JobContext;
import org.distillery.core.io.Location;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.model.train.TrainJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "train", description = "Train a GPT-2 or Llama-family model on prep shards (ND4J), tracked in MLflow or the local run store.")
final class TrainCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the train spec (YAML)")
    Path specFile;

    @Mixin
    SpecOverrides set;

    @Mixin
    TrainingRunOptions run;

    @Override
    public Integer call() throws Exception {
        List<String> overrides = new ArrayList<>(set.list());
        overrides.addAll(run.overrides());
        SpecReader.Located<TrainSpec> located = SpecReader.readLocated(specFile, TrainSpec.class, overrides);
        Location output = run.output(top, "train", located.spec().name());
        if (located.spec().distributed().ranks() > 1) {
            DistributedTraining.run(top, DistributedTraining.Work.of(located), specFile, overrides, run.master, output,
                    run.resume, run.parentRun);
            return 0;
        }
        if (run.master != null) {
            System.err.println("note: --master " + run.master + " is for a distributed run (--ranks N, N > 1); this"
                    + " one runs in this process");
        }
        TrainingLaunch.into(top, output, run.resume,
                (folder, copies) -> launch(top, located, specFile, folder, run.resume, run.parentRun, copies));
        return 0;
    }

    static TrainingLaunch.Launched launch(Distillery top, SpecReader.Located<TrainSpec> located, Path specFile,
                                          Path output, boolean resume, String parentRun) throws java.io.IOException {
        return launch(top, located, specFile, output, resume, parentRun, TrainJob.OutputListener.NONE);
    }

    /**
     * Trains {@code located} into {@code output} in a tracked run (nested under {@code parentRun} when given);
     * {@code copies} hears of every checkpoint written or removed.
     */
    static TrainingLaunch.Launched launch(Distillery top, SpecReader.Located<TrainSpec> located, Path specFile,
                                          Path output, boolean resume, String parentRun,
                                          TrainJob.OutputListener copies) throws java.io.IOException {
        TrainSpec spec = located.spec();
        Path data = TrainingLaunch.shards(top, specFile, located, spec.data());
        String resumeRunId = TrainingLaunch.resumeRunId(output, resume);
        return TrainingLaunch.run(top, new TrainingLaunch.Request(TrainJob.JOB, spec.name(), spec.tracking(),
                parentRun, resumeRunId, specFile, output, copies), (run, progress) -> {
                    TrainingLaunch.tagOverrides(run, located);
                    TrainJob.Result r = new TrainJob(located, data, JobContext.of(output, run, Distillery.version())
                            .resuming(resume).reportingTo(progress)).onOutput(copies).run();
                    run.logArtifact(data.resolve(ShardManifest.read(data).tokenizer().file()), "tokenizer");
                    return r;
                });
    }
}
