package org.distillery.model.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.Sha256;
import org.distillery.core.progress.GracefulStop;
import org.distillery.core.progress.JobStoppedException;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunTracker;
import org.distillery.model.AdamW;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.MatmulPrecision;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code distillery train}: a GPT-2 trained on prep shards with AdamW, warmup and cosine decay,
 * global-norm clipping and gradient accumulation. Checkpoints land atomically in
 * {@code <out>/checkpoints/}; the final model is {@code <out>/model.ckpt}. With {@code resume} the job
 * continues from the newest checkpoint and, because data order and dropout derive from (seed, step),
 * follows the loss curve an uninterrupted run would have.
 */
public final class TrainJob {
    public static final String JOB = "train";
    /** The final model in a train (or distill) output folder. */
    public static final String MODEL_FILE = "model.ckpt";
    /** With the stopping rule, the checkpoint of the best evaluation so far; model.ckpt is it at the end. */
    public static final String BEST_FILE = "best.ckpt";
    /** Checkpoint sections of an objective's own weights ({@link Objective#auxiliary()}) and their AdamW state. */
    public static final String AUX_PARAMS = "objective.params";
    static final String AUX_ADAM_M = "objective.adam.m";
    static final String AUX_ADAM_V = "objective.adam.v";

    private final SpecReader.Located<TrainSpec> located;
    private final TrainSpec spec;
    private final Path dataDir;
    private final Path outDir;
    private final boolean resume;
    private final java.io.PrintStream warnings;
    private final RunTracker tracker;
    private final ProgressListener progress;
    private final String version;
    /** The spec as a JSON-shaped map: the run's params and every checkpoint's provenance. */
    private final Map<String, Object> specMap;
    private final Setup setup;

    /** What each step minimizes; plain training minimizes the next-token cross-entropy. */
    public interface Objective {
        /**
         * The batch of one micro-batch of one step: random windows of the train split by default
         * ({@code model}: the model being trained, for objectives that sample from it).
         */
        default Gpt.Batch batch(Gpt model, TokenWindows train, long seed, long step, int micro, int batch, int time)
                throws IOException {
            return train.randomBatch(seed, step, micro, batch, time);
        }

        /** Adds {@code scale} times the loss's gradient on {@code b} to {@code grads}; returns the loss. */
        double lossAndGradient(Gpt model, Gpt.Batch b, GptParameters grads, double scale, long dropoutSeed);

        /**
         * Figures the run is measured against, taken on the val windows before training (the teacher's loss):
         * logged at step 0 of a fresh run, and given in the result of every run, resumed ones too.
         */
        default Map<String, Double> baselines(TokenWindows val, int evalBatches, int batch, int time) {
            return Map.of();
        }

        /**
         * Parts of the loss since the last call, to log the mean of each as {@code train/<name>} (none for plain
         * training): the same names at every call, whatever the micro-batches were, so that ranks can add them up.
         */
        default Map<String, Part> takeParts() {
            return Map.of();
        }

        /**
         * Weights the objective learns beside the model (a projection between hidden states), or null:
         * optimized by AdamW with the model's settings, clipped by the joint norm, checkpointed with it.
         */
        default Auxiliary auxiliary() {
            return null;
        }
    }

    /** A part of the loss over some micro-batches: its sum and how many terms; logged as the mean. */
    public record Part(double sum, long count) {
        public double mean() {
            return count == 0 ? Double.NaN : sum / count;
        }
    }

    /** An objective's own weights, a flat buffer, with its gradient buffer and AdamW's decay mask. */
    public record Auxiliary(INDArray parameters, INDArray gradients, INDArray decayMask) {
    }

    /**
     * How a run differs from plain training: the job's name in progress events, its objective, the
     * weights of a fresh run (null: {@code init} of the spec, else random), and the spec recorded in
     * every checkpoint and as the run's params (null: the train spec).
     */
    public record Setup(String job, Objective objective, java.util.function.Function<GptConfig, GptParameters> init,
                        Map<String, Object> provenance) {
        static Setup plain() {
            return new Setup(JOB, (model, b, grads, scale, seed) -> model.lossAndGradient(b, grads, scale, seed), null,
                    null);
        }
    }

    /**
     * Told of each file the job finishes or removes in its output folder, as it happens: a copy of the folder
     * on another file system follows the job this way, so a killed job's last checkpoint is there too.
     */
    public interface OutputListener {
        OutputListener NONE = new OutputListener() {
            @Override
            public void written(Path file) {
            }

            @Override
            public void removed(Path file) {
            }
        };

        void written(Path file) throws IOException;

        void removed(Path file) throws IOException;

        /** How a file of the output folder is named to the user: where its copy is, when there is one. */
        default String nameOf(Path file) {
            return file.toString();
        }
    }

    private OutputListener output = OutputListener.NONE;
    private DataParallel parallel = DataParallel.SINGLE;
    /** Steps between checks that every rank holds the same parameters. */
    private final int checkEvery;

    /**
     * Runs as one rank of a data-parallel run: this rank's share of each step's micro-batches; gradients (the
     * objective's own weights' too), the loss and its parts summed over the ranks.
     */
    public TrainJob across(DataParallel ranks) {
        this.parallel = ranks;
        return this;
    }

    /** Tells {@code listener} of every file this job finishes or removes in its output folder. */
    public TrainJob onOutput(OutputListener listener) {
        this.output = listener;
        return this;
    }

    /**
     * A finished run: the model, its last losses, the objective's {@code baselines} (the teacher's val loss), and
     * the speed of the steps this invocation ran ({@code stepsRun}; none when it resumed a finished run).
     */
    public record Result(Path model, long steps, double trainLoss, double valLoss, double valPerplexity,
                         double unigramEntropy, double tokensPerSecond, double msPerStep, boolean resumed,
                         long stepsRun, Map<String, Double> baselines) {
    }

    /** Trains on the prep output {@code dataDir} into {@code context.output()}. */
    public TrainJob(SpecReader.Located<TrainSpec> spec, Path dataDir, JobContext context) {
        this(spec, dataDir, context, Setup.plain());
    }

    /** As {@link #TrainJob(SpecReader.Located, Path, JobContext)}, with another objective (distillation's). */
    public TrainJob(SpecReader.Located<TrainSpec> spec, Path dataDir, JobContext context, Setup setup) {
        this.setup = setup;
        this.located = spec;
        this.spec = spec.spec();
        this.dataDir = dataDir;
        this.outDir = context.output();
        this.resume = context.resume();
        this.tracker = context.tracker();
        this.progress = context.progress();
        this.version = context.version();
        this.warnings = context.warnings();
        this.specMap = setup.provenance() != null ? setup.provenance()
                : Checkpoint.asJsonObject(this.spec);
        this.checkEvery = this.spec.distributed().checkEvery();
    }

    public Result run() throws IOException {
        try {
            return train();
        } catch (DistilleryException e) {
            if (!readied) { // the other ranks learn that this one cannot start, rather than wait for it
                readied = true;
                parallel.ready(e.getMessage());
            }
            throw e;
        }
    }

    /** Whether this rank has told the others whether it could start. */
    private boolean readied;

    private Result train() throws IOException {
        boolean lead = parallel.rank() == 0; // rank 0 alone writes the output folder and evaluates
        ShardManifest manifest = ShardManifest.read(dataDir);
        String manifestSha = Sha256.of(dataDir.resolve(ShardManifest.FILE_NAME));
        Path tokenizerFile = dataDir.resolve(manifest.tokenizer().file());
        TrainSpec.Model m = spec.model();
        GptConfig config = GptConfig.of(m, manifest.tokenizer().vocabSize());
        int time = m.blockSize();
        int batch = spec.training().batchSize();
        int accum = spec.training().gradAccum();
        int steps = spec.training().steps();
        if (spec.optimizer().warmupSteps() > steps && !resume) {
            boolean given = located.lines().containsKey("optimizer.warmup_steps")
                    || located.overrides().containsKey("optimizer.warmup_steps");
            warnings.println("warning: " + (given ? located.where("optimizer.warmup_steps") : located.source())
                    + ": optimizer.warmup_steps (" + spec.optimizer().warmupSteps() + (given ? "" : ", the default")
                    + ") is longer than the run (training.steps " + steps + "): the learning rate never reaches"
                    + " optimizer.lr (" + spec.optimizer().lr() + ")");
        }
        progress.on(ProgressEvent.stage(setup.job(), "open", 1, 2));
        try (TokenWindows train = TokenWindows.open(dataDir, manifest, "train");
             TokenWindows val = TokenWindows.open(dataDir, manifest, "val")) {
            for (TokenWindows w : List.of(train, val)) {
                if (w.longestShard() < time + 1L) {
                    throw located.error("model.block_size", "is " + time + ", but the longest "
                            + (w == train ? "train" : "val") + " shard in " + dataDir + " holds " + w.longestShard()
                            + " tokens; windows need block_size + 1, so at most " + (w.longestShard() - 1) + " fits");
                }
            }
            Checkpoint.Tokenizer tokenizer = new Checkpoint.Tokenizer(manifest.tokenizer().sha256(),
                    manifest.tokenizer().vocabSize(), Files.readString(tokenizerFile, StandardCharsets.UTF_8));
            if (resume && lead) { // a killed run leaves the temporary file of the checkpoint it was writing
                AtomicFile.removeLeftovers(outDir);
                AtomicFile.removeLeftovers(outDir.resolve("checkpoints"));
            }
            State state = initialState(config, manifest);
            MatmulPrecision wanted = MatmulPrecision.resolve(spec.training().precision(),
                    why -> warnings.println("warning: " + located.where("training.precision")
                            + ": training.precision: bf16: " + why));
            Gpt gpt = new Gpt(state.params, wanted);
            if (gpt.products() != wanted) {
                warnings.println("warning: " + located.where("training.precision") + ": training.precision: bf16: the "
                        + gpt.engine() + " engine has no bf16 products: they run in fp32");
            }
            GptParameters grads = GptParameters.zeros(config);
            GradientSum sum = GradientSum.named(spec.distributed().sum(), GradientSum.buffers(grads.flat(),
                    state.auxiliary == null ? null : state.auxiliary.gradients()), accum);
            TrainSpec.Optimizer o = spec.optimizer();
            LearningRate schedule = new LearningRate(o.lr(), o.minLr(), o.warmupSteps(), steps);
            double unigram = unigramEntropy(val, config.vocabSize());
            logStart(config, manifest, manifestSha, state, gpt.engine(), gpt.products());
            Map<String, Double> baselines = setup.objective().baselines(val, spec.eval().batches(), batch, time);
            if (state.step == 0) {
                baselines.forEach((name, value) -> tracker.logMetric(name, value, 0));
            }
            readied = true;
            parallel.ready(null);
            if (parallel.ranks() > 1) {
                parallel.requireSame(state.params.hash(), state.step);
            }

            progress.on(ProgressEvent.stage(setup.job(), "train", 2, 2));
            boolean plateau = o.schedule().equals("plateau");
            EarlyStop early = spec.eval().stopsEarly() ? EarlyStop.resumed(spec.eval(), plateau
                    ? n -> schedule.lowers(n, o.decay()) : null, state.step > 0
                    ? Checkpoint.readHeader(newestCheckpoint(outDir)).metrics() : Map.of()) : null;
            long tokensPerStep = (long) batch * accum * time;
            double lastLoss = Double.NaN;
            double valLoss = Double.NaN;
            long started = System.nanoTime();
            long stepsRun = 0;
            long last = state.step;
            for (long step = state.step; step < steps && (early == null || !early.stopped()); step++) {
                double lr = plateau ? schedule.plateau(step, early.reductions(), o.decay()) : schedule.at(step);
                double[] lossAndParts = lossAndGradient(gpt, train, grads, sum, step, batch, time);
                double loss = lossAndParts[0];
                double norm = state.step(grads, lr, o.gradClip());
                long done = step + 1;
                stepsRun++;
                lastLoss = loss;
                Map<String, Double> parts = means(lossAndParts);
                progress.on(ProgressEvent.progress(setup.job(), "train", done, steps, "steps"));
                if (done % spec.training().logEvery() == 0 || done == steps) {
                    double tokensPerSecond = stepsRun * tokensPerStep / ((System.nanoTime() - started) / 1e9);
                    logTraining(done, loss, lr, norm, tokensPerSecond, parts);
                }
                last = done;
                boolean evaluates = done % spec.eval().every() == 0 || done == steps;
                if (lead && evaluates) {
                    valLoss = evaluateAndLog(gpt, val, done, batch, time);
                    if (early != null && early.observe(valLoss, done)) { // the best model so far, kept whole
                        saveCheckpoint(state, config, done, done * tokensPerStep, tokenizer, manifestSha,
                                early.metrics(checkpointMetrics(loss, valLoss)), outDir.resolve(BEST_FILE));
                    }
                }
                boolean stopsEarly = early != null && evaluates && early.decide(lead, parallel) && done < steps;
                if (stopsEarly) {
                    tracker.logMetric("stop/best_val_loss", early.best(), done);
                    tracker.logMetric("stop/best_step", early.bestStep(), done);
                    progress.on(ProgressEvent.metric(setup.job(), "stop/best_step", early.bestStep(), done));
                }
                if (parallel.ranks() > 1 && (done % checkEvery == 0 || done == steps)) {
                    parallel.requireSame(state.params.hash(), done);
                }
                // A stop on request is one process's: the ranks of a distributed run stop when Spark ends the stage.
                boolean stop = parallel.ranks() == 1 && GracefulStop.requested() && done < steps;
                if (lead && (done % spec.checkpoints().every() == 0 || done == steps || stop || stopsEarly)) {
                    Map<String, Double> metrics = checkpointMetrics(loss, valLoss);
                    saveCheckpoint(state, config, done, done * tokensPerStep, tokenizer, manifestSha,
                            early == null ? metrics : early.metrics(metrics), null);
                    tracker.flush(); // a resumed run redoes only the steps after this checkpoint
                }
                if (stop) {
                    throw new JobStoppedException("stopped at step " + done + " of " + steps + " on request; "
                            + "the checkpoint is in " + outDir.resolve("checkpoints") + ": resume with --resume");
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            Path model = outDir.resolve(MODEL_FILE);
            if (lead && Double.isNaN(valLoss)) { // nothing left to run: a resumed, finished job
                valLoss = evaluate(gpt, val, batch, time);
            }
            boolean best = lead && early != null && Files.isRegularFile(outDir.resolve(BEST_FILE));
            Path newest = best ? outDir.resolve(BEST_FILE) : lead ? newestCheckpoint(outDir) : null;
            if (best) { // the model is the best evaluation's
                valLoss = early.best();
            }
            if (stepsRun == 0 && newest != null) { // a resumed, finished job reports the last step's loss it saved
                lastLoss = Checkpoint.readHeader(newest).metrics().getOrDefault("train/loss", Double.NaN);
            }
            if (newest != null) { // temp file, fsync, rename: like every other final file
                AtomicFile.write(model, out -> Files.copy(newest, out));
                output.written(model);
            }
            if (!lead) {
                return new Result(null, last, lastLoss, valLoss, Math.exp(valLoss), unigram, 0, 0, state.step > 0,
                        stepsRun, baselines);
            }
            tracker.logMetric("val/unigram_entropy", unigram, steps);
            progress.on(ProgressEvent.metric(setup.job(), "val/unigram_entropy", unigram));
            return new Result(model, last, lastLoss, valLoss, Math.exp(valLoss), unigram,
                    stepsRun == 0 ? 0 : stepsRun * tokensPerStep / seconds, stepsRun == 0 ? 0 : seconds * 1000 / stepsRun,
                    state.step > 0, stepsRun, baselines);
        }
    }

    /** The names of the objective's loss parts at the last step, in the order of their sums after the loss. */
    private List<String> partNames = List.of();

    /** The mean of each loss part, from a step's loss-and-parts (NaN parts, counted 0 times, left out). */
    private Map<String, Double> means(double[] lossAndParts) {
        Map<String, Double> means = new LinkedHashMap<>();
        for (int i = 0; i < partNames.size(); i++) {
            double count = lossAndParts[1 + partNames.size() + i];
            if (count > 0) {
                means.put(partNames.get(i), lossAndParts[1 + i] / count);
            }
        }
        return means;
    }

    /**
     * One optimizer step's loss, its gradient left in {@code grads} (zero before: the optimizer's step leaves them
     * so), added up by {@code sum} over the spec's micro-batches and the ranks; a loss that is not finite stops the
     * run. Returns the loss, then the sums of the objective's loss parts, then their counts.
     */
    private double[] lossAndGradient(Gpt gpt, TokenWindows train, GptParameters grads, GradientSum sum, long step,
                                     int batch, int time) throws IOException {
        int accum = spec.training().gradAccum();
        // Data order and dropout are functions of (seed, step, micro): which rank computes a micro-batch changes
        // nothing but the order the gradient's terms are summed in, and the exact sum not even that.
        for (int micro = parallel.rank(); micro < accum; micro += parallel.ranks()) {
            Gpt.Batch b = setup.objective().batch(gpt, train, spec.seed(), step, micro, batch, time);
            double loss = setup.objective().lossAndGradient(gpt, b, grads, 1.0 / accum,
                    TokenWindows.mix(spec.seed() + 1, step, micro)) / accum;
            requireFinite(loss * accum, step);
            sum.add(step, micro, loss, setup.objective().takeParts());
        }
        double[] out = sum.finish(parallel, List.copyOf(setup.objective().takeParts().keySet()));
        partNames = sum.partNames();
        requireFinite(out[0], step);
        return out;
    }

    private void requireFinite(double loss, long step) {
        if (!Double.isFinite(loss)) {
            throw new DistilleryException("training diverged at step " + (step + 1) + " (loss " + loss
                    + "): lower optimizer.lr (" + spec.optimizer().lr() + ") or raise optimizer.warmup_steps");
        }
    }

    /** The training curves at step {@code done}, to the run and as a progress event. */
    private void logTraining(long done, double loss, double lr, double norm, double tokensPerSecond,
                             Map<String, Double> parts) {
        tracker.logMetric("train/loss", loss, done);
        tracker.logMetric("train/lr", lr, done);
        tracker.logMetric("train/grad_norm", norm, done);
        tracker.logMetric("train/tokens_per_second", tokensPerSecond, done);
        parts.forEach((name, value) -> tracker.logMetric("train/" + name, value, done));
        progress.on(ProgressEvent.metric(setup.job(), "train/loss", loss, done));
    }

    /** The validation loss at step {@code done}, logged to the run and as a progress event. */
    private double evaluateAndLog(Gpt gpt, TokenWindows val, long done, int batch, int time) {
        double valLoss = evaluate(gpt, val, batch, time);
        tracker.logMetric("val/loss", valLoss, done);
        tracker.logMetric("val/perplexity", Math.exp(valLoss), done);
        progress.on(ProgressEvent.metric(setup.job(), "val/loss", valLoss, done));
        return valLoss;
    }

    /** What a checkpoint records of where training stood: the last losses (validation once there is one). */
    private static Map<String, Double> checkpointMetrics(double loss, double valLoss) {
        Map<String, Double> metrics = new TreeMap<>();
        metrics.put("train/loss", loss);
        if (Double.isFinite(valLoss)) {
            metrics.put("val/loss", valLoss);
        }
        return metrics;
    }

    /** Model and optimizer to start from: the newest checkpoint on resume, spec.init, or a fresh init. */
    private State initialState(GptConfig config, ShardManifest manifest) {
        TrainSpec.Optimizer o = spec.optimizer();
        Auxiliary aux = setup.objective().auxiliary();
        Path latest = resume ? newestCheckpoint(outDir) : null;
        if (latest != null) {
            Checkpoint ck = Checkpoint.read(latest);
            requireSameTokenizer(ck.header(), latest, manifest);
            if (!ck.header().model().equals(config)) {
                throw new DistilleryException(latest + ": holds a model " + ck.header().model()
                        + " but the spec asks for " + config + ": resume with the spec the run started with");
            }
            // An imported or exported model has weights only: resuming needs the optimizer state a run saves.
            if (ck.header().training() == null || !ck.sections().containsKey(Checkpoint.ADAM_M)
                    || !ck.sections().containsKey(Checkpoint.ADAM_V)) {
                throw new DistilleryException(latest + ": has no optimizer state (header training, sections "
                        + Checkpoint.ADAM_M + " and " + Checkpoint.ADAM_V + "): not a checkpoint of a training run,"
                        + " so the run cannot resume from it; move it out of " + latest.getParent() + ", or use it"
                        + " as init:");
            }
            GptParameters params = GptParameters.wrap(config, ck.section(Checkpoint.PARAMS));
            long t = ck.header().training().optimizerSteps();
            AdamW adam = new AdamW(params, o.beta1(), o.beta2(), o.eps(), o.weightDecay(), ck.section(Checkpoint.ADAM_M),
                    ck.section(Checkpoint.ADAM_V), t);
            if (aux == null) {
                return new State(params, adam, ck.header().step(), null, null);
            }
            INDArray saved = ck.sections().get(AUX_PARAMS);
            if (saved == null || saved.length() != aux.parameters().length()) {
                throw new DistilleryException(latest + ": holds " + (saved == null ? "no" : saved.length())
                        + " objective weights (section " + AUX_PARAMS + "), but this run learns "
                        + aux.parameters().length() + " beside the model: resume with the spec the run started with");
            }
            aux.parameters().assign(saved);
            return new State(params, adam, ck.header().step(), aux, new AdamW(aux.decayMask(), o.beta1(), o.beta2(),
                    o.eps(), o.weightDecay(), ck.section(AUX_ADAM_M), ck.section(AUX_ADAM_V), t));
        }
        GptParameters params;
        if (setup.init() != null) {
            params = setup.init().apply(config);
        } else if (spec.init() != null) {
            Path init = Path.of(spec.init());
            Checkpoint ck = Checkpoint.read(init);
            requireSameTokenizer(ck.header(), init, manifest);
            if (!ck.header().model().equals(config)) {
                throw located.error("init", "is a model " + ck.header().model() + ", but model: asks for " + config);
            }
            params = GptParameters.wrap(config, ck.section(Checkpoint.PARAMS));
        } else {
            params = GptParameters.initialize(config, spec.seed());
        }
        return new State(params, new AdamW(params, o.beta1(), o.beta2(), o.eps(), o.weightDecay()), 0, aux,
                aux == null ? null : new AdamW(aux.decayMask(), o.beta1(), o.beta2(), o.eps(), o.weightDecay(), null,
                        null, 0));
    }

    private void requireSameTokenizer(Checkpoint.Header h, Path file, ShardManifest manifest) {
        if (!h.tokenizer().sha256().equals(manifest.tokenizer().sha256())) {
            throw new DistilleryException(file + ": was trained with tokenizer sha256 " + h.tokenizer().sha256()
                    + ", but the shards in " + dataDir + " use tokenizer sha256 " + manifest.tokenizer().sha256()
                    + ": token ids would mean different text");
        }
    }

    private static final class State {
        final GptParameters params;
        final AdamW adam;
        final long step;
        /** The objective's own weights and their optimizer (null for none). */
        final Auxiliary auxiliary;
        final AdamW auxiliaryAdam;

        State(GptParameters params, AdamW adam, long step, Auxiliary auxiliary, AdamW auxiliaryAdam) {
            this.params = params;
            this.adam = adam;
            this.step = step;
            this.auxiliary = auxiliary;
            this.auxiliaryAdam = auxiliaryAdam;
        }

        /** One optimizer step of the model and the objective's weights, clipped by their joint norm. */
        double step(GptParameters grads, double lr, double clip) {
            if (auxiliary == null) {
                return adam.step(params.flat(), grads.flat(), lr, clip);
            }
            double norm = Math.sqrt(adam.sumOfSquares(grads.flat()) + auxiliaryAdam.sumOfSquares(auxiliary.gradients()));
            double scale = AdamW.clipScale(norm, clip);
            adam.update(params.flat(), grads.flat(), lr, scale);
            auxiliaryAdam.update(auxiliary.parameters(), auxiliary.gradients(), lr, scale);
            return norm;
        }
    }

    private void logStart(GptConfig config, ShardManifest manifest, String manifestSha, State state, String engine,
                          MatmulPrecision products) {
        Map<String, Object> flat = new TreeMap<>();
        flatten("", specMap, flat);
        Map<String, String> params = new TreeMap<>();
        flat.forEach((k, v) -> params.put(k, String.valueOf(v)));
        params.put("model.vocab_size", String.valueOf(config.vocabSize()));
        params.put("model.parameters", String.valueOf(config.parameterCount()));
        if (state.step == 0) { // a resumed run logged its params when it started; MLflow refuses changes
            tracker.logParams(params);
        }
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("distillery.dataset.manifest_sha256", manifestSha);
        tags.put("distillery.tokenizer.sha256", manifest.tokenizer().sha256());
        tags.put("distillery.backend", Nd4j.getBackend().getClass().getSimpleName());
        tags.put("distillery.kernels", engine);
        tags.put("distillery.precision", products.specName());
        tags.put("distillery.version", version);
        if (state.step > 0) {
            tags.put("distillery.resumed_from_step", String.valueOf(state.step));
        }
        tracker.setTags(tags);
    }

    @SuppressWarnings("unchecked")
    static void flatten(String prefix, Map<String, Object> in, Map<String, Object> out) {
        for (Map.Entry<String, Object> e : in.entrySet()) {
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Map<?, ?> sub) {
                flatten(key, (Map<String, Object>) sub, out);
            } else if (e.getValue() != null) {
                out.put(key, e.getValue());
            }
        }
    }

    private double evaluate(Gpt gpt, TokenWindows val, int batch, int time) {
        int count = spec.eval().batches();
        double sum = 0;
        for (int i = 0; i < count; i++) {
            sum += gpt.loss(val.evalBatch(i, count, batch, time));
        }
        return sum / count;
    }

    /** Entropy (nats) of the val split's token frequencies: the loss of the best context-free model. */
    static double unigramEntropy(TokenWindows val, int vocab) {
        long[] counts = new long[vocab];
        long total = val.countTokens(counts);
        double h = 0;
        for (long c : counts) {
            if (c > 0) {
                double p = (double) c / total;
                h -= p * Math.log(p);
            }
        }
        return h;
    }

    /** A checkpoint of {@code state} into checkpoints/ (the oldest beyond checkpoints.keep removed), or {@code to}. */
    private void saveCheckpoint(State state, GptConfig config, long step, long tokens, Checkpoint.Tokenizer tokenizer,
                                String manifestSha, Map<String, Double> metrics, Path to) throws IOException {
        TrainSpec.Optimizer o = spec.optimizer();
        Checkpoint.Header h = Checkpoint.Header.of(version, config, tokenizer).atStep(step, tokens)
                .withTraining(new Checkpoint.Training(spec.seed(), state.adam.steps(), spec.training().batchSize(),
                        spec.training().gradAccum(), o.beta1(), o.beta2(), o.eps(), o.weightDecay()))
                .withData(new Checkpoint.Data(manifestSha, dataDir.toString())).withMetrics(metrics).withSpec(specMap)
                .withRunId(tracker.runId());
        Map<String, INDArray> sections = new LinkedHashMap<>();
        sections.put(Checkpoint.PARAMS, state.params.flat());
        sections.put(Checkpoint.ADAM_M, state.adam.firstMoment());
        sections.put(Checkpoint.ADAM_V, state.adam.secondMoment());
        if (state.auxiliary != null) {
            sections.put(AUX_PARAMS, state.auxiliary.parameters());
            sections.put(AUX_ADAM_M, state.auxiliaryAdam.firstMoment());
            sections.put(AUX_ADAM_V, state.auxiliaryAdam.secondMoment());
        }
        if (to != null) {
            new Checkpoint(h, sections).write(to);
            output.written(to);
            return;
        }
        Path dir = outDir.resolve("checkpoints");
        Path file = dir.resolve(String.format("step-%08d.ckpt", step));
        new Checkpoint(h, sections).write(file);
        output.written(file);
        List<Path> all = checkpoints(outDir);
        for (int i = 0; i < all.size() - spec.checkpoints().keep(); i++) {
            if (Files.deleteIfExists(all.get(i))) {
                output.removed(all.get(i));
            }
        }
    }

    /** Whether {@code name} is a checkpoint's name in {@code <out>/checkpoints} ({@code step-00000120.ckpt}). */
    public static boolean isCheckpointName(String name) {
        return name.matches("step-\\d{8}\\.ckpt");
    }

    /** Checkpoints in {@code <out>/checkpoints}, oldest first. */
    static List<Path> checkpoints(Path out) {
        Path dir = out.resolve("checkpoints");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return new ArrayList<>(s.filter(p -> isCheckpointName(p.getFileName().toString())).sorted().toList());
        } catch (IOException e) {
            throw new DistilleryException(dir + ": cannot list checkpoints: " + e.getMessage(), e);
        }
    }

    public static Path newestCheckpoint(Path out) {
        List<Path> all = checkpoints(out);
        return all.isEmpty() ? null : all.get(all.size() - 1);
    }
}
