package org.distillery.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.DistilleryException;
import org.distillery.core.collective.RingEndpoint;
import org.distillery.core.collective.RunRelay;
import org.distillery.core.io.Location;
import org.distillery.core.io.MirroredFolder;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.train.TrainJob;
import org.distillery.prep.SparkApplicationEvents;
import org.distillery.prep.SparkErrors;
import org.distillery.prep.SparkSessions;
import org.distillery.tracking.TrackedRun;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The driver of a train or distill run over N ranks: one Spark barrier stage of N tasks ({@link RankTask}), as TorchDistributor
 * and XGBoost4J-Spark run theirs. The driver holds the tracked run and shows progress as a one-process run does,
 * fed by rank 0 ({@link RunRelay}); the ranks read the data and write the output folder themselves, so both must
 * be where every executor sees them (a Hadoop file system on a cluster of several hosts).
 *
 * <p>A shuffle follows the barrier stage ({@code repartition(1)}): Spark reruns a failed barrier stage only when it
 * is a map stage, never when it is the result stage. Each rerun resumes from the newest checkpoint, up to
 * {@code distributed.attempts} attempts ({@code spark.stage.maxConsecutiveAttempts}).
 */
final class DistributedTraining {
    /** How long Spark waits for enough free task slots for all ranks before the run fails (2 s x 15). */
    static final Map<String, String> BARRIER_SETTINGS = Map.of(
            "spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "2s",
            "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "15",
            "spark.dynamicAllocation.enabled", "false");

    /**
     * What {@code distributed.secure} turns on where the submitter left it unset, and then requires: the ranks' secret
     * travels in Spark's task closure and {@code allGather}, so Spark's RPC must be authenticated and encrypted.
     */
    static final Map<String, String> SECURE_SETTINGS = Map.of(
            "spark.authenticate", "true",
            "spark.network.crypto.enabled", "true");

    private DistributedTraining() {
    }

    /** Fails, naming the spec line and the setting, unless the session runs with every {@link #SECURE_SETTINGS}. */
    static void requireSecure(org.apache.spark.SparkConf conf, SpecReader.Located<?> located) {
        for (String key : SECURE_SETTINGS.keySet().stream().sorted().toList()) {
            if (!conf.getBoolean(key, false)) {
                throw new DistilleryException(located.where("distributed.secure") + ": distributed.secure asks for"
                        + " Spark's authentication and RPC encryption, but " + key + " is "
                        + conf.get(key, "unset") + " (the submitter's setting wins): the ranks' secret would cross"
                        + " the network in the clear; set " + key + "=true (and spark.authenticate.secret on a"
                        + " standalone cluster) or drop distributed.secure");
            }
        }
    }

    /**
     * What a distributed run trains: the job ({@code train}, {@code distill}), its spec and the sections the driver
     * reads, and for distill where the teacher and its logits are ({@link TeacherSource#where}; logits null: a live
     * teacher), as the ranks will look for them.
     */
    record Work(String job, SpecReader.Located<?> located, String name, TrainSpec.Data data,
                TrainSpec.Training training, TrainSpec.Tracking tracking, TrainSpec.Distributed distributed,
                String teacher, String teacherLogits) {
        static Work of(SpecReader.Located<TrainSpec> located) {
            TrainSpec s = located.spec();
            return new Work(TrainJob.JOB, located, s.name(), s.data(), s.training(), s.tracking(), s.distributed(),
                    null, null);
        }

        static Work of(SpecReader.Located<DistillSpec> located, String teacher, String teacherLogits) {
            DistillSpec s = located.spec();
            return new Work(DistillJob.JOB, located, s.name(), s.data(), s.training(), s.tracking(), s.distributed(),
                    teacher, teacherLogits);
        }
    }

    /**
     * Runs {@code work} (distributed.ranks > 1) into {@code output}, in a tracked run nested under {@code parentRun};
     * {@code cliMaster} may be null.
     */
    static TrainingLaunch.Launched run(Distillery top, Work work, Path specFile, List<String> overrides,
                                       String cliMaster, Location output, boolean resume, String parentRun)
            throws IOException {
        SpecReader.Located<?> located = work.located();
        TrainSpec.Distributed d = work.distributed();
        int accum = work.training().gradAccum();
        if (accum % d.ranks() != 0) {
            System.err.println("warning: " + located.where("training.grad_accum") + ": training.grad_accum " + accum
                    + " is no multiple of distributed.ranks " + d.ranks() + ": rank r computes micro-batches r, r + "
                    + d.ranks() + ", ..., so " + (accum < d.ranks() ? (d.ranks() - accum) + " rank(s) compute nothing"
                    : "some ranks compute one more than others") + " and wait at every step");
        }
        Path shards = TrainingLaunch.shards(top, specFile, located, work.data()); // checked here, before any rank starts
        Location data = TrainingLaunch.shardsWhereTheyAre(top, specFile, located, work.data());
        Map<String, String> settings = new LinkedHashMap<>(BARRIER_SETTINGS);
        settings.put("spark.stage.maxConsecutiveAttempts", String.valueOf(d.attempts()));
        if (d.secure()) {
            settings.putAll(SECURE_SETTINGS);
        }
        SparkSession spark = JobJar.open(new SparkSessions.Request("distillery-" + work.job() + "-"
                + work.name(), cliMaster, d.master(), d.ranks(), settings));
        try {
            if (d.secure()) {
                requireSecure(spark.sparkContext().getConf(), located);
            }
            String master = spark.sparkContext().master();
            unseen(located.where("data") + ": the prep output", data, master).ifPresent(System.err::println);
            unseen("the output folder", output, master).ifPresent(System.err::println);
            TrainingLaunch.Launched[] launched = new TrainingLaunch.Launched[1];
            TrainingLaunch.into(top, output, resume, (folder, copies) -> {
                String resumeRunId = TrainingLaunch.resumeRunId(folder, resume);
                launched[0] = TrainingLaunch.run(top, new TrainingLaunch.Request(work.job(), work.name(),
                        work.tracking(), parentRun, resumeRunId, specFile, folder, copies), (run, progress) -> {
                            TrainingLaunch.tagOverrides(run, located);
                            run.setTags(Map.of("distillery.ranks", String.valueOf(d.ranks()), "distillery.master",
                                    master));
                            RankTask.Outcome lead;
                            try (SparkApplicationEvents app = SparkApplicationEvents.watch(spark, work.job(), progress)) {
                                lead = stage(spark, work, specFile, overrides, master, data, output, run, progress);
                            }
                            Path model = folder.resolve(TrainJob.MODEL_FILE);
                            if (output.isRemote()) { // the driver logs the model: fetch the copy rank 0 wrote
                                new MirroredFolder(output, folder).pull(TrainJob.MODEL_FILE);
                            }
                            if (TrainJob.JOB.equals(work.job())) {
                                run.logArtifact(shards.resolve(ShardManifest.read(shards).tokenizer().file()),
                                        "tokenizer");
                            }
                            return lead.result(model);
                        });
            });
            return launched[0];
        } finally {
            spark.stop();
        }
    }

    /**
     * The ranks' stage, with the driver's end of rank 0's reports open on the driver's host for it; rank 0's outcome.
     */
    private static RankTask.Outcome stage(SparkSession spark, Work work, Path specFile, List<String> overrides,
                                          String master, Location data, Location output, TrackedRun run,
                                          ProgressListener progress) throws IOException {
        byte[] secret = RingEndpoint.newSecret();
        String driverHost = spark.conf().get("spark.driver.host");
        try (RunRelay.Receiver relay = RunRelay.Receiver.listen(InetAddress.getByName(driverHost), secret, run,
                progress, System.err)) {
            // a report the driver cannot apply fails the run: end the ranks now, not after hours without figures
            relay.onFailure(e -> spark.sparkContext().cancelAllJobs());
            ArrayList<String> sent = new ArrayList<>(overrides);
            sent.add("distributed.master=" + master); // the master the run used, as a param
            RankTask.Plan plan = new RankTask.Plan(work.job(), Files.readString(specFile), specFile.toString(), sent,
                    where(data), where(output), run.runId(), driverHost, relay.address().getPort(), secret,
                    work.distributed().timeoutS(), Distillery.version(), work.teacher(), work.teacherLogits());
            List<RankTask.Outcome> outcomes;
            try {
                outcomes = launch(spark, work.distributed().ranks(), plan, master);
            } catch (RuntimeException e) {
                try {
                    relay.check(); // the stage failed (or was cancelled) because the relay failed the run: say that
                } catch (org.distillery.core.collective.CollectiveException relayed) {
                    relayed.addSuppressed(e);
                    throw relayed;
                }
                if (org.distillery.core.progress.GracefulStop.requested()) { // SIGTERM: Spark's hook ended the job
                    throw new org.distillery.core.progress.JobStoppedException("stopped on request: Spark ended the"
                            + " ranks; the newest checkpoint in " + output + " is where --resume goes on");
                }
                throw e;
            }
            relay.drain(java.time.Duration.ofSeconds(30)); // throws the relay's failure, if any
            return firstErrorOrLead(outcomes);
        }
    }

    /** The stage: N ranks at once, then a shuffle so that Spark may rerun it. */
    private static List<RankTask.Outcome> launch(SparkSession spark, int ranks, RankTask.Plan plan, String master) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<Integer> ids = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            ids.add(r);
        }
        ClassTag<RankTask.Outcome> tag = ClassTag$.MODULE$.apply(RankTask.Outcome.class);
        spark.sparkContext().setJobDescription("distillery " + plan.job() + ": " + ranks + " ranks");
        RDD<RankTask.Outcome> stage = jsc.parallelize(ids, ranks).rdd().barrier()
                .mapPartitions(new RankTask(plan), false, tag);
        try {
            return new ArrayList<>(JavaRDD.fromRDD(stage, tag).repartition(1).collect());
        } catch (Exception e) { // Scala throws SparkException undeclared
            if (e instanceof SparkException s) {
                throw failure(s, ranks, master);
            }
            if (e.getCause() instanceof SparkException s) {
                throw failure(s, ranks, master);
            }
            throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
        }
    }

    /** Spark's error as the user's: too few slots, dynamic allocation, or the rank's own words. */
    static RuntimeException failure(SparkException e, int ranks, String master) {
        String msg = String.valueOf(e.getMessage());
        if (msg.contains("SPARK-24819") || msg.contains("BarrierJobSlotsNumberCheckFailed")
                || msg.contains("more slots than the total number of slots")) {
            return new DistilleryException("distributed.ranks " + ranks + " needs " + ranks + " task slots at once, but"
                    + " " + master + " has fewer (executor cores / spark.task.cpus of the executors it gave this"
                    + " application): ask for fewer ranks, or give the application more executors or cores", e);
        }
        if (msg.contains("SPARK-24942") || msg.contains("dynamic resource allocation")) {
            return new DistilleryException("a distributed run is one Spark barrier stage, which dynamic allocation"
                    + " cannot hold: set spark.dynamicAllocation.enabled=false", e);
        }
        java.util.regex.Matcher rank = java.util.regex.Pattern.compile("(rank \\d+ of \\d+[^\\n]*)").matcher(msg);
        if (rank.find()) {
            return new DistilleryException("the distributed run failed: " + rank.group(1), e);
        }
        return SparkErrors.unwrap(e);
    }

    /** Rank 0's outcome, or the error of the lowest rank that met one (every rank meets an input error alike). */
    private static RankTask.Outcome firstErrorOrLead(List<RankTask.Outcome> outcomes) {
        outcomes.sort(Comparator.comparingInt(RankTask.Outcome::rank));
        for (RankTask.Outcome o : outcomes) {
            if (o.error() != null) {
                throw new DistilleryException(o.error());
            }
        }
        return outcomes.get(0);
    }

    /** A location as a rank reads it: a URI, or the absolute path. */
    private static String where(Location l) {
        return l.isRemote() ? l.remote().toString() : l.local().toAbsolutePath().toString();
    }

    /** A warning when a local folder is given to ranks that may run on other hosts, which would not see it. */
    static java.util.Optional<String> unseen(String what, Location l, String master) {
        if (l.isRemote() || SparkSessions.isLoopback(master)) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of("warning: " + what + " " + l.local() + " is a local path, but " + master
                + " may run ranks on other hosts, which would not see it: give an hdfs:// (or another Hadoop file"
                + " system's) URI");
    }
}
