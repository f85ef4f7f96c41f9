package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.io.Location;
import org.distillery.core.shard.ShardCache;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.train.TrainJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "distill", description = "Distill a teacher (a checkpoint or a Hugging Face GPT-2 or Llama-family folder) into a smaller"
        + " student on prep shards, tracked in MLflow or the local run store.")
final class DistillCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the distill spec (YAML)")
    Path specFile;

    @Mixin
    SpecOverrides set;

    @Mixin
    TrainingRunOptions run;

    @Override
    public Integer call() throws Exception {
        java.util.List<String> overrides = new java.util.ArrayList<>(set.list());
        overrides.addAll(run.overrides());
        SpecReader.Located<DistillSpec> located = SpecReader.readLocated(specFile, DistillSpec.class, overrides);
        Location output = run.output(top, "distill", located.spec().name());
        if (located.spec().distributed().ranks() > 1) {
            DistillSpec spec = located.spec();
            String logits = spec.distillation().teacherLogits();
            String logitsWhere = null;
            if (logits != null) { // checked (and fetched) here; the ranks read the same output
                Location at = Location.parse(logits, specFile.toAbsolutePath().getParent());
                Path local = teacherLogits(top, located, specFile, logits);
                logitsWhere = at.isRemote() ? at.remote().toString() : local.toAbsolutePath().toString();
            }
            DistributedTraining.run(top, DistributedTraining.Work.of(located,
                    TeacherSource.where(top, located, spec.teacher(), specFile), logitsWhere), specFile, overrides,
                    run.master, output, run.resume, run.parentRun);
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

    static TrainingLaunch.Launched launch(Distillery top, SpecReader.Located<DistillSpec> located, Path specFile,
                                          Path output, boolean resume, String parentRun) throws java.io.IOException {
        return launch(top, located, specFile, output, resume, parentRun, TrainJob.OutputListener.NONE);
    }

    /**
     * Distills as {@code located} says into {@code output} in a tracked run (nested under {@code parentRun});
     * {@code copies} hears of every checkpoint written or removed.
     */
    static TrainingLaunch.Launched launch(Distillery top, SpecReader.Located<DistillSpec> located, Path specFile,
                                          Path output, boolean resume, String parentRun,
                                          TrainJob.OutputListener copies) throws java.io.IOException {
        DistillSpec spec = located.spec();
        Path data = TrainingLaunch.shards(top, specFile, located, spec.data());
        TeacherSource teacher = TeacherSource.resolve(top, located, spec.teacher(), specFile);
        Path logits = teacherLogits(top, located, specFile, spec.distillation().teacherLogits());
        String resumeRunId = TrainingLaunch.resumeRunId(output, resume);
        return TrainingLaunch.run(top, new TrainingLaunch.Request(DistillJob.JOB, spec.name(), spec.tracking(),
                parentRun, resumeRunId, specFile, output, copies), (run, progress) -> {
                    TrainingLaunch.tagOverrides(run, located);
                    return new DistillJob(located, teacher.checkpoint(), teacher.source(), data, logits,
                            JobContext.of(output, run, Distillery.version()).resuming(resume).reportingTo(progress))
                            .onOutput(copies).run();
                });
    }

    /**
     * {@code distillation.teacher_logits}: a folder relative to the spec, else a name under the work dir's
     * teacher-logits/; or a Hadoop file system URI, fetched once into the work dir's cache/teacher-logits/.
     */
    static Path teacherLogits(Distillery top, SpecReader.Located<?> located, Path specFile, String value) {
        if (value == null) {
            return null;
        }
        Location remote = Location.parse(value, specFile.toAbsolutePath().getParent());
        if (remote.isRemote()) {
            try {
                return ShardCache.fetchTeacherLogits(remote, top.workDir().resolve("cache").resolve("teacher-logits"));
            } catch (java.io.IOException e) {
                throw new DistilleryException(remote + ": cannot fetch the teacher logits: " + e.getMessage(), e);
            }
        }
        Path[] candidates = {specFile.toAbsolutePath().getParent().resolve(value).normalize(),
            top.workDir().resolve("teacher-logits").resolve(value).normalize()};
        for (Path p : candidates) {
            if (Files.isRegularFile(p.resolve(TeacherLogitsManifest.FILE_NAME))) {
                return p;
            }
        }
        throw located.error("distillation.teacher_logits", "is " + value + ", but neither " + candidates[0] + " nor "
                + candidates[1] + " holds a teacher-logits output (no " + TeacherLogitsManifest.FILE_NAME
                + "): run distillery teacher-logits first");
    }
}
