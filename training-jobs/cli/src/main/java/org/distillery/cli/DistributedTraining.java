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
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.model.train.TrainJob;
import org.distillery.prep.SparkErrors;
import org.distillery.prep.SparkSessions;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The driver of a train run over N ranks: one Spark barrier stage of N tasks ({@link RankTask}), as TorchDistributor
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

    private DistributedTraining() {
    }

    /** Trains {@code located} (distributed.ranks > 1) into {@code output}; {@code cliMaster} may be null. */
    static TrainingLaunch.Launched train(Distillery top, SpecReader.Located<TrainSpec> located, Path specFile,
                                         List<String> overrides, String cliMaster, Location output, boolean resume,
                                         String parentRun) throws IOException {
        TrainSpec spec = located.spec();
        TrainSpec.Distributed d = spec.distributed();
        int accum = spec.training().gradAccum();
        if (accum % d.ranks() != 0) {
            System.err.println("warning: " + located.where("training.grad_accum") + ": training.grad_accum " + accum
                    + " is no multiple of distributed.ranks " + d.ranks() + ": rank r computes micro-batches r, r + "
                    + d.ranks() + ", ..., so " + (accum < d.ranks() ? (d.ranks() - accum) + " rank(s) compute nothing"
                    : "some ranks compute one more than others") + " and wait at every step");
        }
        Path shards = TrainingLaunch.shards(top, specFile, located, spec.data()); // checked here, before any rank starts
        Location data = TrainingLaunch.shardsWhereTheyAre(top, specFile, located, spec.data());
        Map<String, String> settings = new LinkedHashMap<>(BARRIER_SETTINGS);
        settings.put("spark.stage.maxConsecutiveAttempts", String.valueOf(d.attempts()));
        String provisional = SparkSessions.master(cliMaster, System.getProperty("spark.master"), d.master()).url();
        settings.putAll(JobJar.executorSettings(provisional));
        SparkSession spark = SparkSessions.open(new SparkSessions.Request("distillery-train-" + spec.name(),
                cliMaster, d.master(), d.ranks(), settings), System.err);
        try {
            String master = spark.sparkContext().master();
            unseen(located.where("data") + ": the prep output", data, master).ifPresent(System.err::println);
            unseen("the output folder", output, master).ifPresent(System.err::println);
            TrainingLaunch.Launched[] launched = new TrainingLaunch.Launched[1];
            TrainingLaunch.into(top, output, resume, (folder, copies) -> {
                String resumeRunId = TrainingLaunch.resumeRunId(folder, resume);
                launched[0] = TrainingLaunch.run(top, new TrainingLaunch.Request(TrainJob.JOB, spec.name(), spec.tracking(),
                        parentRun, resumeRunId, specFile, folder, copies), (run, progress) -> {
                            TrainingLaunch.tagOverrides(run, located);
                            run.setTags(Map.of("distillery.ranks", String.valueOf(d.ranks()), "distillery.master",
                                    master));
                            byte[] secret = RingEndpoint.newSecret();
                            String driverHost = spark.conf().get("spark.driver.host");
                            RankTask.Outcome lead;
                            try (RunRelay.Receiver relay = RunRelay.Receiver.listen(InetAddress.getByName(driverHost),
                                    secret, run, progress, System.err)) {
                                ArrayList<String> sent = new ArrayList<>(overrides);
                                sent.add("distributed.master=" + master); // the master the run used, as a param
                                RankTask.Plan plan = new RankTask.Plan(TrainJob.JOB, Files.readString(specFile),
                                        specFile.toString(), sent, where(data), where(output), run.runId(), driverHost,
                                        relay.address().getPort(), secret, d.timeoutS(), Distillery.version());
                                List<RankTask.Outcome> outcomes = launch(spark, d.ranks(), plan, master);
                                relay.drain(java.time.Duration.ofSeconds(30));
                                lead = firstErrorOrLead(outcomes);
                            }
                            Path model = folder.resolve(TrainJob.MODEL_FILE);
                            if (output.isRemote()) { // the driver logs the model: fetch the copy rank 0 wrote
                                new MirroredFolder(output, folder).pull(TrainJob.MODEL_FILE);
                            }
                            run.logArtifact(shards.resolve(ShardManifest.read(shards).tokenizer().file()), "tokenizer");
                            return lead.result(model);
                        });
            });
            return launched[0];
        } finally {
            spark.stop();
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
        spark.sparkContext().setJobDescription("distillery train: " + ranks + " ranks");
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
