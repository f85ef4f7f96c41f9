package org.distillery.cli;

import java.io.IOException;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.apache.spark.BarrierTaskContext;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.collective.RingAllReduce;
import org.distillery.core.collective.RingEndpoint;
import org.distillery.core.collective.RunRelay;
import org.distillery.core.io.Location;
import org.distillery.core.io.MirroredFolder;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardCache;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunTracker;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.train.DataParallel;
import org.distillery.model.train.TrainJob;

/**
 * One rank of a distributed train or distill run: a task of the Spark barrier stage. It binds its GPU if Spark gave it one,
 * listens on its executor's own address, exchanges addresses and rank 0's fresh secret for this stage attempt
 * through {@link BarrierTaskContext#allGather} (Spark's RPC), joins the ring, and trains its share of every step.
 * Rank 0 reports to the driver ({@link RunRelay}) and alone writes the output folder; every rank starts from the
 * newest checkpoint there, so a retried stage goes on where the failed one last saved.
 *
 * <p>Errors of the input that every rank meets alike come back as the rank's {@link Outcome}, so that Spark does
 * not retry them; anything else (a rank that died, a broken connection) fails the task and Spark reruns the stage.
 */
final class RankTask extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>,
        scala.collection.Iterator<RankTask.Outcome>> implements Serializable {
    private static final long serialVersionUID = 1L;

    /** What the driver sends every rank: the spec as it read it, where data and output are, and how to report. */
    record Plan(String job, String specText, String specSource, ArrayList<String> overrides, String data,
                String output, String runId, String driverHost, int driverPort, byte[] secret, int timeoutSeconds,
                String version, String teacher, String teacherLogits) implements Serializable {
    }

    /** A rank's end: rank 0's figures, or the error every rank met (null: none). */
    record Outcome(int rank, String error, long steps, double trainLoss, double valLoss, double unigramEntropy,
                   double tokensPerSecond, double msPerStep, boolean resumed, long stepsRun,
                   HashMap<String, Double> baselines) implements Serializable {
        static Outcome failed(int rank, String error) {
            return new Outcome(rank, error, 0, Double.NaN, Double.NaN, Double.NaN, 0, 0, false, 0, new HashMap<>());
        }

        static Outcome of(int rank, TrainJob.Result r) {
            return new Outcome(rank, null, r.steps(), r.trainLoss(), r.valLoss(), r.unigramEntropy(),
                    r.tokensPerSecond(), r.msPerStep(), r.resumed(), r.stepsRun(), new HashMap<>(r.baselines()));
        }

        /** The result as one process's run would give it, its model in {@code model}. */
        TrainJob.Result result(Path model) {
            return new TrainJob.Result(model, steps, trainLoss, valLoss, Math.exp(valLoss), unigramEntropy,
                    tokensPerSecond, msPerStep, resumed, stepsRun, Map.copyOf(baselines));
        }
    }

    private final Plan plan;

    RankTask(Plan plan) {
        this.plan = plan;
    }

    /** The task's body: this rank's outcome (its partition holds only its number). */
    @Override
    public scala.collection.Iterator<Outcome> apply(scala.collection.Iterator<Integer> partition) {
        return scala.jdk.javaapi.CollectionConverters.asScala(List.of(run(BarrierTaskContext.get())).iterator());
    }

    private Outcome run(BarrierTaskContext task) {
        int rank = task.partitionId();
        int ranks = task.getTaskInfos().length;
        Map<String, List<String>> resources = new HashMap<>();
        task.resourcesJMap().forEach((name, info) -> resources.put(name, List.of(info.addresses())));
        GpuBinding gpu;
        try {
            gpu = GpuBinding.decide(rank, resources, GpuBinding.cudaBackend());
        } catch (DistilleryException e) {
            return Outcome.failed(rank, e.getMessage());
        }
        gpu.bind(); // before this thread allocates any array
        Duration timeout = Duration.ofSeconds(plan.timeoutSeconds());
        RingAllReduce.Settings settings = new RingAllReduce.Settings(timeout, timeout);
        try (RingEndpoint endpoint = RingEndpoint.listen(InetAddress.getByName(host(task, rank)))) {
            byte[] secret = rank == 0 ? RingEndpoint.newSecret() : null;
            InetSocketAddress own = endpoint.address();
            String[] all = task.allGather(own.getAddress().getHostAddress() + " " + own.getPort() + " "
                    + (secret != null ? HexFormat.of().formatHex(secret) : "-"));
            List<InetSocketAddress> addresses = new ArrayList<>();
            for (String a : all) {
                String[] parts = a.split(" ");
                addresses.add(new InetSocketAddress(InetAddress.getByName(parts[0]), Integer.parseInt(parts[1])));
            }
            secret = HexFormat.of().parseHex(all[0].split(" ")[2]);
            try (RingAllReduce ring = endpoint.join(rank, addresses, secret, settings);
                 RunRelay.Sender relay = rank == 0 ? RunRelay.Sender.connect(new InetSocketAddress(plan.driverHost(),
                         plan.driverPort()), plan.secret(), plan.runId(), timeout) : null) {
                if (relay != null) {
                    relay.on(ProgressEvent.ranks(plan.job(), ranks, task.stageAttemptNumber(),
                            addresses.stream().map(a -> a.getAddress().getHostAddress() + ":" + a.getPort()).toList()));
                    if (gpu.note() != null) {
                        relay.warnings().println("note: " + gpu.note());
                    }
                } else if (gpu.note() != null) {
                    System.err.println("note: " + gpu.note());
                }
                return Outcome.of(rank, train(rank, new BarrierRanks(ring, task), relay));
            }
        } catch (DistilleryException e) {
            return Outcome.failed(rank, e.getMessage());
        } catch (IOException e) {
            String why = String.valueOf(e.getMessage());
            String own = "rank " + rank + ": ";
            throw new java.io.UncheckedIOException("rank " + rank + " of " + ranks + " (stage attempt "
                    + task.stageAttemptNumber() + "): " + (why.startsWith(own) ? why.substring(own.length()) : why), e);
        }
    }

    /** This rank's training job, in its own working folder under the executor's. */
    private TrainJob.Result train(int rank, DataParallel parallel, RunRelay.Sender relay) throws IOException {
        Path work = Files.createDirectories(Path.of("distillery-work").toAbsolutePath().resolve("rank-" + rank));
        Location data = Location.parse(plan.data(), Path.of(""));
        Path shards = data.isRemote() ? ShardCache.fetch(data, work.resolve("cache").resolve("prep")) : data.local();
        Location output = Location.parse(plan.output(), Path.of(""));
        Path folder;
        TrainJob.OutputListener copies = TrainJob.OutputListener.NONE;
        if (output.isRemote()) {
            MirroredFolder mirror = TrainingLaunch.mirror(work.resolve("mirror"), output);
            folder = mirror.local();
            if (rank == 0) {
                copies = TrainingLaunch.copiesTo(mirror);
            }
        } else {
            folder = output.local();
        }
        // Every rank starts from the newest checkpoint: the driver refused a fresh run into a folder that holds
        // some, so any here are this run's, written before --resume or before Spark retried the stage.
        boolean resume = TrainJob.newestCheckpoint(folder) != null;
        RunTracker tracker = relay != null ? relay : RunTracker.none(plan.runId());
        ProgressListener progress = relay != null ? relay : ProgressListener.NONE;
        JobContext context = JobContext.of(folder, tracker, plan.version()).resuming(resume).reportingTo(progress)
                // every rank would warn alike: rank 0's reach the driver, the others' go nowhere
                .warningTo(relay != null ? relay.warnings() : new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        if (DistillJob.JOB.equals(plan.job())) {
            SpecReader.Located<DistillSpec> located = SpecReader.parseLocated(plan.specText(), plan.specSource(),
                    DistillSpec.class, plan.overrides());
            TeacherSource teacher = TeacherSource.load(plan.teacher());
            Path logits = null;
            if (plan.teacherLogits() != null) {
                Location at = Location.parse(plan.teacherLogits(), Path.of(""));
                logits = at.isRemote() ? ShardCache.fetchTeacherLogits(at, work.resolve("cache").resolve("teacher-logits"))
                        : at.local();
            }
            return new DistillJob(located, teacher.checkpoint(), teacher.source(), shards, logits, context)
                    .onOutput(copies).across(parallel).run();
        }
        SpecReader.Located<TrainSpec> located = SpecReader.parseLocated(plan.specText(), plan.specSource(),
                TrainSpec.class, plan.overrides());
        return new TrainJob(located, shards, context).onOutput(copies).across(parallel).run();
    }

    /** The host of this task's executor, as Spark knows it ({@code host:port} in its task infos). */
    private static String host(BarrierTaskContext task, int rank) {
        String address = task.getTaskInfos()[rank].address();
        int colon = address.lastIndexOf(':');
        return colon > 0 ? address.substring(0, colon) : address;
    }

    /** The ranks of a barrier stage: gradients summed over the ring, the start agreed through Spark. */
    private static final class BarrierRanks extends DataParallel.Ring {
        private final BarrierTaskContext task;

        BarrierRanks(RingAllReduce ring, BarrierTaskContext task) {
            super(ring);
            this.task = task;
        }

        /** Every rank learns every other's problem: all fail with the first one's words. */
        @Override
        public void ready(String problem) {
            String[] all = task.allGather(problem == null ? "" : problem);
            for (int r = 0; r < all.length; r++) {
                if (!all[r].isEmpty()) {
                    throw new DistilleryException(r == rank() ? all[r] : all[r] + " (on rank " + r + ")");
                }
            }
        }
    }
}
