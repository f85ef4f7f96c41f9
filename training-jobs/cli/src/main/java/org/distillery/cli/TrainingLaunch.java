package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.MirroredFolder;
import org.distillery.core.io.Sha256;
import org.distillery.core.progress.GracefulStop;
import org.distillery.core.progress.JobStoppedException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardCache;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunStatus;
import org.distillery.model.Checkpoint;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.train.TrainJob;
import org.distillery.tracking.TrackedRun;

/**
 * What {@code train} and {@code distill} share on the command line: the shards a spec names, the
 * output folder's resume rule, and the tracked run around the job (spec and model logged, FINISHED
 * or FAILED, progress events, the summary on stdout).
 */
final class TrainingLaunch {
    private TrainingLaunch() {
    }

    /**
     * The prep output of a spec's data section: under the work dir's prep/, relative to the spec's folder, or
     * on a Hadoop file system (a URI), then fetched once into the work dir's cache/prep/ and checked there.
     */
    static Path shards(Distillery top, Path specFile, SpecReader.Located<?> located, TrainSpec.Data data) {
        Location at = shardsWhereTheyAre(top, specFile, located, data);
        if (!at.isRemote()) {
            return at.local();
        }
        try {
            return ShardCache.fetch(at, top.workDir().resolve("cache").resolve("prep"));
        } catch (IOException e) {
            throw new DistilleryException(at + ": cannot fetch the prep output: " + e.getMessage(), e);
        }
    }

    /**
     * Where the spec's data is, local or remote, not fetched: for Spark jobs, whose executors read the shards
     * of their tasks themselves.
     */
    static Location shardsWhereTheyAre(Distillery top, Path specFile, SpecReader.Located<?> located,
                                       TrainSpec.Data data) {
        Location at = data.prep() != null ? Location.of(top.workDir().resolve("prep").resolve(data.prep()))
                : Location.parse(data.path(), specFile.toAbsolutePath().getParent());
        return at.isRemote() ? at : Location.of(requirePrep(located, data.prep() != null ? "data.prep" : "data.path",
                at.local()));
    }

    private static Path requirePrep(SpecReader.Located<?> located, String field, Path dir) {
        if (!Files.exists(dir.resolve(ShardManifest.FILE_NAME))) {
            throw located.error(field, "points at " + dir + ", which holds no prep output (no "
                    + ShardManifest.FILE_NAME + "): run distillery prep first");
        }
        return dir;
    }

    /** The run to continue in {@code output} (null for a fresh run); checkpoints there need --resume. */
    static String resumeRunId(Path output, boolean resume) {
        Path newest = TrainJob.newestCheckpoint(output);
        if (!resume && newest != null) {
            throw holdsCheckpoints(output);
        }
        return newest != null ? Checkpoint.readHeader(newest).runId() : null;
    }

    /** --resume where there is nothing to resume is no error (a job scheduler retries with it); but said. */
    private static void noCheckpointToResume(Object output) {
        System.err.println("note: --resume: " + output + " holds no checkpoint yet; starting a fresh run");
    }

    private static DistilleryException holdsCheckpoints(Object output) {
        return new DistilleryException(output + " already holds checkpoints: pass --resume to continue that run, "
                + "or --out for a new folder");
    }

    /**
     * The local working folder of an output on another file system ({@code <work-dir>/mirror/<hash>}): empty,
     * but for the remote's newest checkpoint when resuming. Remote checkpoints without --resume are an error,
     * as local ones are.
     */
    static MirroredFolder mirror(Distillery top, Location output, boolean resume) throws IOException {
        List<String> checkpoints = checkpointsIn(output);
        if (!checkpoints.isEmpty() && !resume) {
            throw holdsCheckpoints(output);
        } else if (checkpoints.isEmpty() && resume) {
            noCheckpointToResume(output);
        }
        return mirror(top.workDir().resolve("mirror"), output);
    }

    /** The checkpoints in a remote output folder, oldest first. */
    static List<String> checkpointsIn(Location output) throws IOException {
        MirroredFolder m = new MirroredFolder(output, Path.of(""));
        return m.list("checkpoints").stream().filter(TrainJob::isCheckpointName).toList();
    }

    /**
     * A fresh local working folder under {@code root} for the remote {@code output}, holding its newest checkpoint
     * if it has one (a rank of a distributed run makes its own, whatever --resume says: the driver checked that).
     */
    static MirroredFolder mirror(Path root, Location output) throws IOException {
        Path local = root.resolve(Sha256.of(output.toString()).substring(0, 16));
        Directories.deleteRecursively(local);
        Files.createDirectories(local.resolve("checkpoints"));
        MirroredFolder m = new MirroredFolder(output, local);
        List<String> checkpoints = checkpointsIn(output);
        if (!checkpoints.isEmpty()) {
            m.pull("checkpoints/" + checkpoints.get(checkpoints.size() - 1));
        }
        return m;
    }

    /** A job that writes into a local folder and tells {@code copies} of what it writes there. */
    @FunctionalInterface
    interface Launcher {
        void into(Path folder, TrainJob.OutputListener copies) throws IOException;
    }

    /**
     * Runs {@code launcher} into {@code output}: straight into it when it is local, else into a mirror folder
     * whose files follow to the remote one as they are written.
     */
    static void into(Distillery top, Location output, boolean resume, Launcher launcher) throws IOException {
        if (output.isRemote()) {
            MirroredFolder mirror = mirror(top, output, resume);
            launcher.into(mirror.local(), copiesTo(mirror));
        } else {
            if (resume && TrainJob.newestCheckpoint(output.local()) == null) {
                noCheckpointToResume(output);
            }
            launcher.into(output.local(), TrainJob.OutputListener.NONE);
        }
    }

    /** Copies each file a job finishes to the remote folder, and removes what it removes. */
    static TrainJob.OutputListener copiesTo(MirroredFolder mirror) {
        return new TrainJob.OutputListener() {
            @Override
            public void written(Path file) throws IOException {
                mirror.push(file);
            }

            @Override
            public void removed(Path file) throws IOException {
                mirror.remove(file);
            }

            @Override
            public String nameOf(Path file) {
                return mirror.remoteOf(file).toString();
            }
        };
    }

    /** A training job run inside its tracked run; it may log artifacts of its own. */
    @FunctionalInterface
    interface Job {
        TrainJob.Result run(TrackedRun run, ProgressListener progress) throws IOException;
    }

    /** A finished job's result and the id of its run in the local run store. */
    record Launched(TrainJob.Result result, String runId) {
    }

    /**
     * A training job to run: its kind ({@code train}, {@code distill}) and spec name, where its run is tracked and
     * nested, the run it resumes (null: a fresh one), and the local {@code folder} it writes, which {@code copies}
     * follow (names in the summary are theirs: the remote copy's).
     */
    record Request(String job, String name, TrainSpec.Tracking tracking, String parentRun, String resumeRunId,
                   Path specFile, Path folder, TrainJob.OutputListener copies) {
        /** Where the output is, as the user named it (the remote folder of a mirror). */
        String outputName() {
            String model = copies.nameOf(folder.resolve(TrainJob.MODEL_FILE));
            return model.substring(0, model.length() - TrainJob.MODEL_FILE.length() - 1);
        }
    }

    /** The run's tag listing the {@code --set} overrides its spec was read with (the spec artifact is the file). */
    static final String OVERRIDES_TAG = "distillery.spec_overrides";

    /** Tags {@code run} with the overrides {@code located} was read with, if any. */
    static void tagOverrides(TrackedRun run, SpecReader.Located<?> located) {
        if (!located.overrides().isEmpty()) {
            run.setTags(java.util.Map.of(OVERRIDES_TAG, String.join(" ", located.overrides().values())));
        }
    }

    /** The run's tag naming its output folder ({@code runs list} shows it). */
    static final String OUTPUT_TAG = "distillery.output";

    /**
     * Runs {@code job} in a tracked run named {@code <job>-<name>}, tags it with its output folder, logs the spec and
     * the model, and prints the summary on stdout: the model (the student, for distill), the losses (distill's train
     * loss is the mix it optimizes; the teacher's val loss beside the student's), and the speed of the steps this
     * invocation ran.
     */
    static Launched run(Distillery top, Request request, Job job) throws IOException {
        String jobName = request.job();
        String name = request.name();
        TrainSpec.Tracking tracking = request.tracking();
        TrainJob.OutputListener output = request.copies();
        String experiment = tracking.experiment() != null ? tracking.experiment() : name;
        try (ProgressListener progress = top.progress();
             TrackedRun run = TrackedRun.open(top.runStore(), top.trackingUri(tracking.uri()), experiment,
                     jobName + "-" + name, request.parentRun(), request.resumeRunId(), System.err)) {
            if (request.resumeRunId() != null) {
                run.loggingEachPointOnce();
            }
            progress.on(ProgressEvent.run(jobName, run.runId(), experiment, jobName + "-" + name));
            run.setTags(java.util.Map.of(OUTPUT_TAG, request.outputName()));
            TrainJob.Result r;
            // SIGTERM now waits for a checkpoint, a KILLED run and the error line (Distillery.run ends the wait)
            GracefulStop.begin();
            try {
                r = job.run(run, progress);
                run.logArtifact(request.specFile(), "spec");
                run.logArtifact(r.model(), "model");
                run.finish(RunStatus.FINISHED);
            } catch (JobStoppedException e) {
                progress.on(ProgressEvent.failed(jobName, e.getMessage()));
                run.finish(RunStatus.KILLED);
                throw e;
            } catch (RuntimeException | IOException e) {
                progress.on(ProgressEvent.failed(jobName, Distillery.Failure.of(e).message()));
                run.finish(RunStatus.FAILED);
                throw e;
            }
            progress.on(ProgressEvent.done(jobName, output.nameOf(r.model())));
            boolean distill = DistillJob.JOB.equals(jobName);
            System.out.printf("%-15s%s%n", distill ? "student" : "model", output.nameOf(r.model()));
            System.out.println("run            " + run.runId()
                    + (run.mlflowRunId() != null ? " (MLflow " + run.mlflowRunId() + ")" : ""));
            System.out.printf("train loss     %.4f%s%n", r.trainLoss(), distill
                    ? " (the distillation mix of teacher and data losses at the last step)" : "");
            System.out.printf("val loss       %.4f (perplexity %.2f)%n", r.valLoss(), r.valPerplexity());
            Double teacher = r.baselines().get(DistillJob.TEACHER_LOSS);
            if (teacher != null) {
                System.out.printf("teacher        val loss %.4f (perplexity %.2f): the student is %.4f nats %s it%n",
                        teacher, Math.exp(teacher), Math.abs(r.valLoss() - teacher),
                        r.valLoss() >= teacher ? "above" : "below");
            }
            if (!distill) {
                double below = r.unigramEntropy() - r.valLoss();
                System.out.printf("unigram entropy of val tokens %.4f nats: the model is %.4f nats %s it%n",
                        r.unigramEntropy(), Math.abs(below), below >= 0 ? "below" : "above");
            }
            if (r.stepsRun() > 0) {
                System.out.printf("speed          %.0f tokens/s, %.1f ms/step%s%n", r.tokensPerSecond(), r.msPerStep(),
                        r.resumed() ? " over the " + r.stepsRun() + " steps after the resume" : "");
            } else {
                System.out.println("speed          - (the run had already finished all " + r.steps()
                        + " steps; nothing left to run)");
            }
            return new Launched(r, run.runId());
        }
    }
}
