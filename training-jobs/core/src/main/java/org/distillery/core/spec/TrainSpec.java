package org.distillery.core.spec;

import java.util.Map;
import java.util.List;
import java.util.Objects;

/**
 * The spec of {@code distillery train}: which prep output to train on, the GPT-2 shape, the
 * optimizer and schedule, evaluation, checkpoints and tracking. Every field but {@code name} and
 * {@code data} has a default; {@link #validate} is the one place that checks them. Checks that need
 * the data (block_size against the shards) run when the job opens it, naming the same fields.
 */
public record TrainSpec(
        String name,
        Data data,
        Model model,
        Optimizer optimizer,
        Training training,
        Eval eval,
        Checkpoints checkpoints,
        Tracking tracking,
        Distributed distributed,
        String init,
        Long seed) implements Spec {

    public TrainSpec {
        model = Objects.requireNonNullElseGet(model, () -> new Model(null, null, null, null, null));
        optimizer = Objects.requireNonNullElseGet(optimizer,
                () -> new Optimizer(null, null, null, null, null, null, null, null, null, null));
        training = Objects.requireNonNullElseGet(training, () -> new Training(null, null, null, null));
        eval = Objects.requireNonNullElseGet(eval, () -> new Eval(null, null));
        checkpoints = Objects.requireNonNullElseGet(checkpoints, () -> new Checkpoints(null, null));
        tracking = Objects.requireNonNullElseGet(tracking, () -> new Tracking(null, null));
        distributed = Objects.requireNonNullElseGet(distributed, () -> new Distributed(null, null, null, null, null, null, null));
        seed = Objects.requireNonNullElse(seed, 1337L);
    }

    /** The token shards: a prep output by name (under the work dir's prep/) or a folder path. */
    public record Data(String prep, String path) {
    }

    /**
     * The model's architecture and shape; the vocabulary size comes from the shards' tokenizer. {@code arch} is
     * {@value #GPT2} (the default) or {@value #LLAMA}; the fields from {@code n_kv_head} on are the Llama family's
     * (named as in Hugging Face's {@code LlamaConfig}) and an error for GPT-2. A Llama model's defaults:
     * plain multi-head attention, an MLP of about 8/3 the width (a multiple of 32, as Llama rounds it), RoPE base
     * 10000, RMSNorm epsilon 1e-5, a separate LM head and no attention biases.
     */
    public record Model(String arch, Integer nLayer, Integer nHead, Integer nEmbd, Integer blockSize, Double dropout,
                        Integer nKvHead, Integer intermediateSize, Double ropeTheta, Double rmsNormEps,
                        Boolean tieWordEmbeddings, Boolean attentionBias) {
        public static final String GPT2 = "gpt2";
        public static final String LLAMA = "llama";
        public static final java.util.List<String> ARCHS = java.util.List.of(GPT2, LLAMA);

        public Model {
            arch = Objects.requireNonNullElse(arch, GPT2);
            nLayer = Objects.requireNonNullElse(nLayer, 4);
            nHead = Objects.requireNonNullElse(nHead, 4);
            nEmbd = Objects.requireNonNullElse(nEmbd, 128);
            blockSize = Objects.requireNonNullElse(blockSize, 64);
            dropout = Objects.requireNonNullElse(dropout, 0.0);
            if (arch.equals(LLAMA)) {
                nKvHead = Objects.requireNonNullElse(nKvHead, nHead);
                intermediateSize = Objects.requireNonNullElse(intermediateSize, (8 * nEmbd / 3 + 31) / 32 * 32);
                ropeTheta = Objects.requireNonNullElse(ropeTheta, 10000.0);
                rmsNormEps = Objects.requireNonNullElse(rmsNormEps, 1e-5);
                tieWordEmbeddings = Objects.requireNonNullElse(tieWordEmbeddings, false);
                attentionBias = Objects.requireNonNullElse(attentionBias, false);
            }
        }

        /** GPT-2 of this shape. */
        public Model(Integer nLayer, Integer nHead, Integer nEmbd, Integer blockSize, Double dropout) {
            this(GPT2, nLayer, nHead, nEmbd, blockSize, dropout, null, null, null, null, null, null);
        }

        public boolean llama() {
            return LLAMA.equals(arch);
        }

        /** This shape with another depth, width and heads (a student's), the rest of the architecture kept. */
        public Model reshaped(int layers, int heads, int kvHeads, int embd, int intermediate, int block, Double drop) {
            return llama() ? new Model(arch, layers, heads, embd, block, drop, kvHeads, intermediate, ropeTheta,
                    rmsNormEps, tieWordEmbeddings, attentionBias) : new Model(layers, heads, embd, block, drop);
        }
    }

    /**
     * AdamW with decoupled weight decay; linear warmup, then the {@code schedule}: {@code cosine} decay to min_lr at
     * the last step, or {@code plateau}: the rate held, and multiplied by {@code decay} (not below min_lr) each time
     * {@code eval.patience} evaluations bring no betterment; the stopping rule then ends the run only once the rate
     * is at min_lr. Plateau ends where learning does, whatever training.steps caps it at.
     */
    public record Optimizer(Double lr, Double minLr, Integer warmupSteps, Double weightDecay, Double beta1,
                            Double beta2, Double eps, Double gradClip, String schedule, Double decay) {
        public static final List<String> SCHEDULES = List.of("cosine", "plateau");

        public Optimizer {
            schedule = Objects.requireNonNullElse(schedule, "cosine");
            decay = Objects.requireNonNullElse(decay, 0.3);
            lr = Objects.requireNonNullElse(lr, 1e-3);
            minLr = Objects.requireNonNullElse(minLr, lr / 10);
            warmupSteps = Objects.requireNonNullElse(warmupSteps, 20);
            weightDecay = Objects.requireNonNullElse(weightDecay, 0.1);
            beta1 = Objects.requireNonNullElse(beta1, 0.9);
            beta2 = Objects.requireNonNullElse(beta2, 0.95);
            eps = Objects.requireNonNullElse(eps, 1e-8);
            gradClip = Objects.requireNonNullElse(gradClip, 1.0);
        }
    }

    /**
     * Steps of the optimizer; each sees batch_size × grad_accum windows of block_size tokens. {@code precision} is
     * that of the matrix products: {@value #FP32} (the default) or {@value #BF16}, bfloat16 operands with float32
     * accumulation and everything else (master weights, optimizer state, reductions) in float32, as PyTorch's CPU
     * autocast. bf16 runs where the CPU has bf16 instructions; elsewhere the job says so in one line and trains fp32.
     */
    public record Training(Integer steps, Integer batchSize, Integer gradAccum, Integer logEvery, String precision) {
        public static final String FP32 = "fp32";
        public static final String BF16 = "bf16";
        public static final List<String> PRECISIONS = List.of(FP32, BF16);

        public Training {
            steps = Objects.requireNonNullElse(steps, 200);
            batchSize = Objects.requireNonNullElse(batchSize, 12);
            gradAccum = Objects.requireNonNullElse(gradAccum, 1);
            logEvery = Objects.requireNonNullElse(logEvery, 10);
            precision = Objects.requireNonNullElse(precision, FP32);
        }

        public Training(Integer steps, Integer batchSize, Integer gradAccum, Integer logEvery) {
            this(steps, batchSize, gradAccum, logEvery, null);
        }
    }

    /**
     * Validation loss on the same val windows every {@code every} steps and at the end. With {@code patience}, the
     * stopping rule: training ends once {@code patience} evaluations in a row have not bettered the best validation
     * loss by more than {@code min_delta}, and the model is the best evaluation's ({@code training.steps} is then
     * the most it runs). Without it (the default) every step runs.
     */
    public record Eval(Integer every, Integer batches, Integer patience, Double minDelta) {
        public Eval {
            every = Objects.requireNonNullElse(every, 50);
            batches = Objects.requireNonNullElse(batches, 8);
            minDelta = Objects.requireNonNullElse(minDelta, 0.0);
        }

        public Eval(Integer every, Integer batches) {
            this(every, batches, null, null);
        }

        /** Whether the stopping rule is on. */
        public boolean stopsEarly() {
            return patience != null;
        }
    }

    /** A checkpoint every {@code every} steps and at the end; the newest {@code keep} are kept. */
    public record Checkpoints(Integer every, Integer keep) {
        public Checkpoints {
            every = Objects.requireNonNullElse(every, 100);
            keep = Objects.requireNonNullElse(keep, 3);
        }
    }

    /** An MLflow tracking server ({@code MLFLOW_TRACKING_URI} and --tracking-uri win) and experiment name. */
    public record Tracking(String uri, String experiment) {
    }

    /**
     * Data-parallel training over {@code ranks} Spark tasks of one barrier stage (1: one process, no Spark): the
     * master they run on ({@code --master} and spark-submit's win), the seconds a rank waits for a silent
     * neighbour before the stage fails, the steps between checks that every rank holds the same parameters, how
     * many times Spark may run the stage (each retry resumes from the newest checkpoint), and how a step's gradients
     * are added up: {@code exact} (the default: fixed-point integers, so 1 process and N ranks give the same weights
     * bit for bit) or {@code float} (the kernels' and the ring's float order); {@code secure} requires Spark's own
     * authentication and RPC encryption, which carry the ranks' secret.
     */
    public record Distributed(Integer ranks, String master, Integer timeoutS, Integer checkEvery, Integer attempts,
                              String sum, Boolean secure) {
        public static final List<String> SUMS = List.of("exact", "float");

        public Distributed {
            ranks = Objects.requireNonNullElse(ranks, 1);
            timeoutS = Objects.requireNonNullElse(timeoutS, 300);
            checkEvery = Objects.requireNonNullElse(checkEvery, 100);
            attempts = Objects.requireNonNullElse(attempts, 4);
            sum = Objects.requireNonNullElse(sum, "exact");
            secure = Objects.requireNonNullElse(secure, false);
        }

        /** This section with {@code ranks} and {@code master} from the command line where given. */
        public Distributed with(Integer cliRanks, String cliMaster) {
            return new Distributed(cliRanks != null ? cliRanks : ranks, cliMaster != null ? cliMaster : master,
                    timeoutS, checkEvery, attempts, sum, secure);
        }
    }

    @Override
    public void validate(Validation v) {
        validateName(v, name);
        validateData(v, data);
        validateModel(v, model, "model.");
        validateLoop(v, optimizer, training, eval, checkpoints);
        validateDistributed(v, distributed);
    }

    /** The distributed section's checks, shared by train and distill specs. */
    static void validateDistributed(Validation v, Distributed d) {
        v.require(d.ranks() >= 1 && d.ranks() <= 4096, "distributed.ranks", "must be 1 (one process) or more ranks,"
                + " one Spark task each, found " + d.ranks());
        v.inRange(d.timeoutS(), 1, 86400, "distributed.timeout_s");
        v.inRange(d.checkEvery(), 1, Integer.MAX_VALUE, "distributed.check_every");
        v.inRange(d.attempts(), 1, 100, "distributed.attempts");
        v.require(Distributed.SUMS.contains(d.sum()), "distributed.sum", "must be one of " + Distributed.SUMS
                + ", found '" + d.sum() + "'");
        v.require(d.master() == null || !d.master().isBlank(), "distributed.master", "is empty: a Spark master URL"
                + " such as spark://host:7077, or leave it out");
    }

    /**
     * The checks of a model's shape, under {@code prefix} ("model.", or "student." for a student's shape once it is
     * resolved from its teacher's).
     */
    public static void validateModel(Validation v, Model model, String prefix) {
        v.oneOf(model.arch(), Model.ARCHS, prefix + "arch");
        v.inRange(model.nLayer(), 1, 256, prefix + "n_layer");
        v.inRange(model.nHead(), 1, 256, prefix + "n_head");
        v.inRange(model.nEmbd(), 1, 65536, prefix + "n_embd");
        if (model.nEmbd() > 0 && model.nHead() > 0 && model.nEmbd() % model.nHead() != 0) {
            v.fail(prefix + "n_embd", "must be divisible by " + prefix + "n_head (" + model.nHead() + "), found "
                    + model.nEmbd());
        }
        v.inRange(model.blockSize(), 1, 1 << 20, prefix + "block_size");
        v.require(model.dropout() >= 0 && model.dropout() < 1, prefix + "dropout", "must be in [0, 1), found "
                + model.dropout());
        if (model.llama()) {
            validateLlama(v, model, prefix);
        } else if (Model.GPT2.equals(model.arch())) {
            Map<String, Object> llamaOnly = new java.util.LinkedHashMap<>();
            llamaOnly.put("n_kv_head", model.nKvHead());
            llamaOnly.put("intermediate_size", model.intermediateSize());
            llamaOnly.put("rope_theta", model.ropeTheta());
            llamaOnly.put("rms_norm_eps", model.rmsNormEps());
            llamaOnly.put("tie_word_embeddings", model.tieWordEmbeddings());
            llamaOnly.put("attention_bias", model.attentionBias());
            llamaOnly.forEach((field, value) -> v.require(value == null, prefix + field, "is a Llama-family setting:"
                    + " set " + prefix + "arch: llama, or leave it out for GPT-2"));
        }
    }

    private static void validateLlama(Validation v, Model m, String prefix) {
        v.inRange(m.nKvHead(), 1, 256, prefix + "n_kv_head");
        if (m.nKvHead() > 0 && m.nHead() > 0 && m.nHead() % m.nKvHead() != 0) {
            v.fail(prefix + "n_kv_head", "must divide " + prefix + "n_head (" + m.nHead() + "): each key/value head"
                    + " serves an equal group of query heads, found " + m.nKvHead());
        }
        if (m.nHead() > 0 && m.nEmbd() % m.nHead() == 0 && (m.nEmbd() / m.nHead()) % 2 != 0) {
            v.fail(prefix + "n_head", "gives a head size of " + m.nEmbd() / m.nHead() + " (" + prefix + "n_embd "
                    + m.nEmbd() + " / " + m.nHead() + "): RoPE turns pairs of dimensions, so it must be even");
        }
        v.inRange(m.intermediateSize(), 1, 1 << 20, prefix + "intermediate_size");
        v.require(m.ropeTheta() > 0, prefix + "rope_theta", "must be positive, found " + m.ropeTheta());
        v.require(m.rmsNormEps() > 0 && m.rmsNormEps() < 1, prefix + "rms_norm_eps", "must be in (0, 1), found "
                + m.rmsNormEps());
    }

    /** The checks of the training loop's sections, shared by train and distill specs. */
    static void validateLoop(Validation v, Optimizer o, Training training, Eval eval, Checkpoints checkpoints) {
        v.require(o.lr() > 0, "optimizer.lr", "must be positive, found " + o.lr());
        v.require(o.minLr() >= 0 && o.minLr() <= o.lr(), "optimizer.min_lr", "must be between 0 and optimizer.lr ("
                + o.lr() + "), found " + o.minLr());
        v.inRange(o.warmupSteps(), 0, Integer.MAX_VALUE, "optimizer.warmup_steps");
        v.inRange(o.weightDecay(), 0, 10, "optimizer.weight_decay");
        v.require(o.beta1() >= 0 && o.beta1() < 1, "optimizer.beta1", "must be in [0, 1), found " + o.beta1());
        v.require(o.beta2() >= 0 && o.beta2() < 1, "optimizer.beta2", "must be in [0, 1), found " + o.beta2());
        v.require(o.eps() > 0, "optimizer.eps", "must be positive, found " + o.eps());
        v.require(o.gradClip() >= 0, "optimizer.grad_clip", "must be 0 (off) or positive, found " + o.gradClip());
        v.require(Optimizer.SCHEDULES.contains(o.schedule()), "optimizer.schedule", "must be one of "
                + Optimizer.SCHEDULES + ", found '" + o.schedule() + "'");
        v.require(o.decay() > 0 && o.decay() < 1, "optimizer.decay", "must be in (0, 1), found " + o.decay());
        v.require(!o.schedule().equals("plateau") || eval.patience() != null, "optimizer.schedule",
                "plateau lowers the rate after eval.patience evaluations without betterment: give eval.patience");
        v.inRange(training.steps(), 1, Integer.MAX_VALUE, "training.steps");
        v.inRange(training.batchSize(), 1, 1 << 16, "training.batch_size");
        v.inRange(training.gradAccum(), 1, 1 << 16, "training.grad_accum");
        v.inRange(training.logEvery(), 1, Integer.MAX_VALUE, "training.log_every");
        v.require(Training.PRECISIONS.contains(training.precision()), "training.precision", "must be one of "
                + Training.PRECISIONS + ", found '" + training.precision() + "'");
        v.inRange(eval.every(), 1, Integer.MAX_VALUE, "eval.every");
        v.inRange(eval.batches(), 1, 1 << 16, "eval.batches");
        if (eval.patience() != null) {
            v.inRange(eval.patience(), 1, 1 << 20, "eval.patience");
        }
        v.require(eval.minDelta() >= 0 && Double.isFinite(eval.minDelta()), "eval.min_delta",
                "must be 0 or positive (nats of validation loss), found " + eval.minDelta());
        v.require(eval.patience() != null || eval.minDelta() == 0, "eval.min_delta",
                "is part of the stopping rule: give eval.patience too");
        v.inRange(checkpoints.every(), 1, Integer.MAX_VALUE, "checkpoints.every");
        v.inRange(checkpoints.keep(), 1, 1000, "checkpoints.keep");
    }

    /** A job's name: it names its output folder and run. */
    static void validateName(Validation v, String name) {
        v.require(name != null && name.matches("[A-Za-z0-9][A-Za-z0-9._-]*"), "name",
                "is required: letters, digits, '.', '_' or '-'");
    }

    /** The data section's check. */
    static void validateData(Validation v, Data data) {
        if (data == null) {
            v.fail("data", "is required: 'prep' (a prep output's name) or 'path' (a folder of token shards)");
        } else {
            v.require((data.prep() == null) != (data.path() == null), "data",
                    "needs exactly one of 'prep' (a prep output's name) or 'path' (a folder of token shards)");
        }
    }
}
