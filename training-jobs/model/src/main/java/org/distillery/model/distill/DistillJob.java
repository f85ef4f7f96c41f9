package org.distillery.model.distill;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.JobContext;
import org.distillery.core.io.Sha256;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.spec.Validation;
import org.distillery.model.Checkpoint;
import org.distillery.model.DistillationLoss;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.Sampler;
import org.distillery.model.train.TokenWindows;
import org.distillery.model.train.TrainJob;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code distillery distill}: a student trained on prep shards against a teacher's logits with a
 * {@link DistillationLoss}: a live teacher run on every batch, or the top-k logits a
 * {@code teacher-logits} job stored beforehand ({@code distillation.teacher_logits}), which are
 * refused unless they were made for this data, teacher, temperature and window. Training goes
 * through {@link TrainJob}'s loop (so schedule, accumulation, evaluation,
 * checkpoints, resume and tracking are those of training). Before anything runs, the teacher and the
 * shards must share a tokenizer. Every checkpoint records the distill spec and the teacher it learnt
 * from; the run's tags name the teacher, and {@code val/teacher_loss} gives the gap to close.
 */
public final class DistillJob {
    public static final String JOB = "distill";
    /** The teacher's loss on the val windows, the bar the student is measured against. */
    public static final String TEACHER_LOSS = "val/teacher_loss";

    private final SpecReader.Located<DistillSpec> located;
    private final DistillSpec spec;
    private final Checkpoint teacher;
    private final String teacherSource;
    private final Path dataDir;
    private final JobContext context;
    private final Path teacherLogits;

    /**
     * {@code teacherLogits}: the {@code teacher-logits} output the spec's {@code distillation.teacher_logits}
     * names, resolved by the caller (null: a live teacher).
     */
    public DistillJob(SpecReader.Located<DistillSpec> spec, Checkpoint teacher, String teacherSource, Path dataDir,
                      Path teacherLogits, JobContext context) {
        this.teacherLogits = teacherLogits;
        this.located = spec;
        this.spec = spec.spec();
        this.teacher = teacher;
        this.teacherSource = teacherSource;
        this.dataDir = dataDir;
        this.context = context;
    }

    private TrainJob.OutputListener output = TrainJob.OutputListener.NONE;

    /** Tells {@code listener} of every file this job finishes or removes in its output folder. */
    public DistillJob onOutput(TrainJob.OutputListener listener) {
        this.output = listener;
        return this;
    }

    private org.distillery.model.train.DataParallel parallel = org.distillery.model.train.DataParallel.SINGLE;

    /** Runs as one rank of a data-parallel run ({@link TrainJob#across}); every rank runs its own teacher. */
    public DistillJob across(org.distillery.model.train.DataParallel ranks) {
        this.parallel = ranks;
        return this;
    }

    public TrainJob.Result run() throws IOException {
        ShardManifest manifest = ShardManifest.read(dataDir);
        Checkpoint.Header th = teacher.header();
        requireTeacherFits(th, teacherSource, manifest, dataDir);
        GptConfig tc = th.model();
        if (tc.llama() == null && (spec.student().nKvHead() != null || spec.student().intermediateSize() != null)) {
            throw located.error(spec.student().nKvHead() != null ? "student.n_kv_head" : "student.intermediate_size",
                    "is a Llama-family setting, but the teacher is GPT-2 (a student is of its teacher's architecture)");
        }
        TrainSpec.Model shape = spec.student().resolve(tc.shape());
        Validation shapeCheck = new Validation();
        TrainSpec.validateModel(shapeCheck, shape, "student.");
        if (!shapeCheck.problems().isEmpty()) { // the student's fields are checked once the teacher's fill them in
            Validation.Problem first = shapeCheck.problems().get(0);
            throw located.error(first.path(), first.message());
        }
        if (shape.blockSize() > tc.blockSize()) {
            throw located.error("student.block_size", "is " + shape.blockSize() + ", longer than the teacher's "
                    + tc.blockSize() + ": the teacher cannot score positions beyond its own");
        }
        GptConfig sc = GptConfig.of(shape, tc.vocabSize());
        if (sc.parameterCount() >= tc.parameterCount()) {
            context.warnings().println("warning: " + located.source() + ": the student (" + sc.parameterCount()
                    + " parameters) is not smaller than the teacher (" + tc.parameterCount() + "): distillation is"
                    + " meant to make a cheaper model");
        }
        DistillSpec.Distillation d = spec.distillation();
        DistillationLoss loss = new DistillationLoss(DistillationLoss.Divergence.parse(d.loss()), d.beta(),
                d.temperature(), d.kdRatio());
        Gpt teacherModel = new Gpt(GptParameters.wrap(tc, teacher.section(Checkpoint.PARAMS)));
        HiddenStateLoss hidden = hiddenStateLoss(d.hidden(), sc, teacherModel.parameters());
        OnPolicy onPolicy = onPolicy(d, shape, loss);
        TeacherObjective objective = teacherLogits == null ? TeacherObjective.live(teacherModel, loss, hidden, onPolicy)
                : TeacherObjective.offline(teacherModel, loss, hidden, openTeacherLogits(manifest, teacherModel, shape));

        Map<String, Object> provenance = Checkpoint.asJsonObject(spec);
        Map<String, Object> teacherInfo = new LinkedHashMap<>();
        teacherInfo.put("source", teacherSource);
        teacherInfo.put("model", Checkpoint.asJsonObject(tc));
        teacherInfo.put("step", th.step());
        teacherInfo.put("run_id", th.runId());
        provenance.put("teacher_checkpoint", teacherInfo);
        if (teacherLogits != null) {
            provenance.put("teacher_logits", Map.of("path", teacherLogits.toString(),
                    "manifest_sha256", Sha256.of(teacherLogits.resolve(TeacherLogitsManifest.FILE_NAME))));
        }
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("distillery.teacher.source", teacherSource);
        tags.put("distillery.teacher.parameters", String.valueOf(tc.parameterCount()));
        if (th.runId() != null) {
            tags.put("distillery.teacher.run_id", th.runId());
        }
        context.tracker().setTags(tags);

        List<Integer> layers = spec.student().layers();
        TrainJob.Setup setup = new TrainJob.Setup(JOB, objective,
                config -> spec.student().init().equals("teacher")
                        ? StudentInit.fromTeacher(teacherModel.parameters(), config, layers, spec.seed())
                        : GptParameters.initialize(config, spec.seed()),
                provenance);
        SpecReader.Located<TrainSpec> loop = new SpecReader.Located<>(spec.asTrainSpec(shape), located.source(),
                located.lines(), located.overrides());
        try (objective) {
            return new TrainJob(loop, dataDir, context, setup).onOutput(output).across(parallel).run();
        }
    }

    /**
     * A teacher can only teach on shards of its own tokenizer, with its vocabulary: the check of
     * {@code distill} and of {@code teacher-logits}, before either runs anything.
     */
    public static void requireTeacherFits(Checkpoint.Header th, String teacherSource, ShardManifest manifest,
                                          Object dataDir) {
        if (!th.tokenizer().sha256().equals(manifest.tokenizer().sha256())) {
            throw new DistilleryException("the teacher " + teacherSource + " uses tokenizer sha256 "
                    + th.tokenizer().sha256() + ", but the shards in " + dataDir + " use tokenizer sha256 "
                    + manifest.tokenizer().sha256() + ": teacher and student must share a tokenizer (prep the data"
                    + " with the teacher's tokenizer.json)");
        }
        if (th.model().vocabSize() != manifest.tokenizer().vocabSize()) {
            throw new DistilleryException("the teacher " + teacherSource + " has a vocabulary of "
                    + th.model().vocabSize() + " but its tokenizer, which the shards use, has "
                    + manifest.tokenizer().vocabSize() + " tokens: the student's logits must line up with the teacher's");
        }
    }

    /** The hidden-state loss the spec asks for (null: none), its layers checked against both models. */
    private HiddenStateLoss hiddenStateLoss(DistillSpec.Hidden h, GptConfig student, GptParameters teacherParams) {
        if (h == null) {
            return null;
        }
        GptConfig tc = teacherParams.config();
        List<HiddenStateLoss.Pair> pairs = new java.util.ArrayList<>();
        if (h.layers() == null) {
            pairs.addAll(HiddenStateLoss.uniformPairs(student.nLayer(), tc.nLayer()));
        } else {
            for (int i = 0; i < h.layers().size(); i++) {
                List<Integer> pair = h.layers().get(i);
                String field = "distillation.hidden.layers[" + i + "]";
                if (pair.get(0) > student.nLayer()) {
                    throw located.error(field, "names student layer " + pair.get(0) + ", but the student has "
                            + student.nLayer() + " blocks (layers 0.." + student.nLayer() + ")");
                }
                if (pair.get(1) > tc.nLayer()) {
                    throw located.error(field, "names teacher layer " + pair.get(1) + ", but the teacher has "
                            + tc.nLayer() + " blocks (layers 0.." + tc.nLayer() + ")");
                }
                pairs.add(new HiddenStateLoss.Pair(pair.get(0), pair.get(1)));
            }
        }
        // A narrower student's embeddings start as the teacher's projected on its principal directions
        // (StudentInit); their transpose maps the student's space back, a better start than noise.
        INDArray init = student.nEmbd() == tc.nEmbd() ? null
                : StudentInit.principalDirections(teacherParams.embedding(), student.nEmbd()).transpose().dup('c');
        return new HiddenStateLoss(HiddenStateLoss.Kind.parse(h.loss()), h.weight(), pairs, student.nEmbd(),
                tc.nEmbd(), init);
    }

    /** The on-policy settings (null: off), with the divergence-only loss its sampled batches use. */
    private OnPolicy onPolicy(DistillSpec.Distillation d, TrainSpec.Model shape, DistillationLoss loss) {
        DistillSpec.OnPolicy o = d.onPolicy();
        if (o == null || o.ratio() == 0) {
            return null;
        }
        if (o.promptTokens() >= shape.blockSize()) {
            throw located.error("distillation.on_policy.prompt_tokens", "is " + o.promptTokens() + ", but the"
                    + " student's windows hold " + shape.blockSize() + " tokens: leave room for it to sample");
        }
        return OnPolicy.of(o.ratio(), o.promptTokens(), o.temperature(), loss);
    }

    /** GKD's settings: the share of sampled micro-batches, the prompt, the sampling temperature, their loss. */
    public record OnPolicy(double ratio, int promptTokens, double temperature, DistillationLoss loss) {
        /** Sampled batches carry the divergence alone: the student's likelihood of its own samples is no target. */
        public static OnPolicy of(double ratio, int promptTokens, double temperature, DistillationLoss dataLoss) {
            return new OnPolicy(ratio, promptTokens, temperature, dataLoss.withKdRatio(1.0));
        }
    }

    /**
     * Opens the offline logits after checking that they were made for this data, this teacher, this
     * temperature and this student's window; each mismatch names the spec field to change.
     */
    private TeacherLogitWindows openTeacherLogits(ShardManifest data, Gpt teacherModel, TrainSpec.Model shape)
            throws IOException {
        String field = "distillation.teacher_logits";
        TeacherLogitsManifest m = TeacherLogitsManifest.read(teacherLogits);
        String dataSha = Sha256.of(dataDir.resolve(ShardManifest.FILE_NAME));
        if (!m.datasetManifestSha256().equals(dataSha)) {
            throw located.error(field, "is " + teacherLogits + ", computed for the prep output whose manifest has"
                    + " sha256 " + m.datasetManifestSha256() + ", but data: is " + dataDir + " (manifest sha256 "
                    + dataSha + "): run distillery teacher-logits on this data");
        }
        if (!m.tokenizerSha256().equals(data.tokenizer().sha256())) {
            throw located.error(field, "uses tokenizer sha256 " + m.tokenizerSha256() + ", but the shards use "
                    + data.tokenizer().sha256());
        }
        if (!"train".equals(m.split())) {
            throw located.error(field, "holds the '" + m.split() + "' split; a student learns from 'train'");
        }
        DistillSpec.Distillation d = spec.distillation();
        if (d.topK() != null && d.topK() != m.topK()) {
            throw located.error("distillation.top_k", "is " + d.topK() + ", but the teacher logits in " + teacherLogits
                    + " keep the top " + m.topK());
        }
        if ((float) d.temperature().doubleValue() != m.temperature()) {
            throw located.error("distillation.temperature", "is " + d.temperature() + ", but the teacher logits in "
                    + teacherLogits + " hold the rest's log-sum-exp at temperature " + m.temperature()
                    + ": use that temperature, or score the data again at this one");
        }
        if (m.window() != shape.blockSize()) {
            throw located.error("student.block_size", "is " + shape.blockSize() + ", but the teacher logits in "
                    + teacherLogits + " cover windows of " + m.window() + " tokens: set student.block_size: "
                    + m.window());
        }
        String weights = teacherModel.parameters().sha256();
        Object scored = m.teacher() == null ? null : m.teacher().get("params_sha256");
        if (!weights.equals(scored)) {
            throw located.error("teacher", "has weights sha256 " + weights + ", but the teacher logits in "
                    + teacherLogits + " were computed by a teacher with weights sha256 " + scored);
        }
        return TeacherLogitWindows.open(teacherLogits, m);
    }

    /**
     * What both teachers share: the distillation loss on the student's logits (plus the hidden-state loss
     * and on-policy batches when asked for), its parts for logging, and the live teacher's loss on the
     * val windows, the floor the student's {@code val/loss} is compared with. Public so that code that
     * drives steps itself (the distillation benchmark) steps with the job's own objective.
     */
    public abstract static class TeacherObjective implements TrainJob.Objective, AutoCloseable {
        final Gpt teacher;
        final DistillationLoss loss;
        final HiddenStateLoss hidden;
        final OnPolicy onPolicy;
        /** The teacher's hidden states of the current batch, reused from batch to batch. */
        private INDArray[] states;
        /** The current micro-batch when the student sampled it. */
        private Gpt.Batch sampled;
        private double kd;
        private double ce;
        private int batches;
        private int dataBatches;

        TeacherObjective(Gpt teacher, DistillationLoss loss, HiddenStateLoss hidden, OnPolicy onPolicy) {
            this.teacher = teacher;
            this.loss = loss;
            this.hidden = hidden;
            this.onPolicy = onPolicy;
        }

        /** A teacher run on each batch; {@code hidden} and {@code onPolicy} may be null (not used). */
        public static TeacherObjective live(Gpt teacher, DistillationLoss loss, HiddenStateLoss hidden,
                                            OnPolicy onPolicy) {
            return new LiveTeacher(teacher, loss, hidden, onPolicy);
        }

        /** Logits scored beforehand, the batches drawn from their windows; {@code hidden} may be null. */
        public static TeacherObjective offline(Gpt teacher, DistillationLoss loss, HiddenStateLoss hidden,
                                               TeacherLogitWindows windows) {
            return new OfflineTeacher(teacher, loss, hidden, windows);
        }

        /** The teacher's view of batch {@code b}. */
        abstract DistillationLoss.Teacher target(Gpt.Batch b);

        /** The data windows of a micro-batch: random train windows unless the teacher decides. */
        Gpt.Batch dataBatch(TokenWindows train, long seed, long step, int micro, int batch, int time)
                throws IOException {
            return train.randomBatch(seed, step, micro, batch, time);
        }

        @Override
        public Gpt.Batch batch(Gpt model, TokenWindows train, long seed, long step, int micro, int batch, int time)
                throws IOException {
            Gpt.Batch data = dataBatch(train, seed, step, micro, batch, time);
            sampled = null;
            // GKD draws per batch: on-policy with probability ratio; by (seed, step, micro), so resume is exact
            if (onPolicy != null && uniform(TokenWindows.mix(seed + 2, step, micro)) < onPolicy.ratio()) {
                Sampler sampler = new Sampler(onPolicy.temperature(), 0, 1, TokenWindows.mix(seed + 3, step, micro));
                sampled = Rollout.sample(model, data, onPolicy.promptTokens(), sampler);
                return sampled;
            }
            return data;
        }

        private static double uniform(long bits) {
            return (bits >>> 11) * 0x1.0p-53;
        }

        /**
         * Runs the teacher on {@code b}: its hidden states for the hidden loss, and its logits into
         * {@code logits} unless null (then the pass stops at the deepest layer the loss reads).
         */
        void runTeacher(Gpt.Batch b, INDArray logits) {
            if (hidden == null) {
                teacher.logits(b.inputs(), b.batch(), b.time(), logits);
                return;
            }
            long rows = (long) b.batch() * b.time();
            int[] layers = hidden.teacherLayers();
            if (states == null || states[0].rows() != rows) {
                states = new INDArray[layers.length];
                for (int i = 0; i < layers.length; i++) {
                    states[i] = Nd4j.createUninitializedDetached(DataType.FLOAT, rows, teacher.config().nEmbd());
                }
            }
            teacher.hiddenStates(b.inputs(), b.batch(), b.time(), layers, states, logits);
            hidden.teacher(states);
        }

        @Override
        public double lossAndGradient(Gpt model, Gpt.Batch b, GptParameters grads, double scale, long dropoutSeed) {
            DistillationLoss.Teacher target = target(b);
            boolean onPolicyBatch = b == sampled;
            DistillationLoss l = onPolicyBatch ? onPolicy.loss() : loss;
            return model.lossAndGradient(b, grads, scale, dropoutSeed, (logits, targets, g, s) -> {
                DistillationLoss.Value v = l.apply(logits, target, targets, g, s);
                kd += v.kd();
                batches++;
                if (!onPolicyBatch) { // the student's likelihood of its own samples says nothing
                    ce += v.ce();
                    dataBatches++;
                }
                return v.loss();
            }, hidden);
        }

        @Override
        public Map<String, Double> baselines(TokenWindows val, int evalBatches, int batch, int time) {
            double sum = 0;
            for (int i = 0; i < evalBatches; i++) {
                sum += teacher.loss(val.evalBatch(i, evalBatches, batch, time));
            }
            return Map.of(TEACHER_LOSS, sum / evalBatches);
        }

        @Override
        public Map<String, TrainJob.Part> takeParts() {
            // the same names on every rank and at every step, a count of 0 where there was nothing
            Map<String, TrainJob.Part> parts = new LinkedHashMap<>();
            parts.put("kd", new TrainJob.Part(kd, batches));
            parts.put("ce", new TrainJob.Part(ce, dataBatches));
            if (hidden != null) {
                parts.put("hidden", hidden.take());
            }
            if (onPolicy != null) {
                parts.put("on_policy", new TrainJob.Part(batches - dataBatches, batches));
            }
            kd = 0;
            ce = 0;
            batches = 0;
            dataBatches = 0;
            return parts;
        }

        @Override
        public TrainJob.Auxiliary auxiliary() {
            if (hidden == null || hidden.parameters() == null) {
                return null;
            }
            return new TrainJob.Auxiliary(hidden.parameters(), hidden.gradients(),
                    Nd4j.zeros(DataType.FLOAT, hidden.parameters().length())); // an adapter: not decayed
        }

        @Override
        public void close() throws IOException {
        }
    }

    /** A teacher run on each batch: its logits over the whole vocabulary. */
    static final class LiveTeacher extends TeacherObjective {
        /** The teacher's logits of the current batch, reused from batch to batch. */
        private INDArray logits;

        LiveTeacher(Gpt teacher, DistillationLoss loss, HiddenStateLoss hidden, OnPolicy onPolicy) {
            super(teacher, loss, hidden, onPolicy);
        }

        @Override
        DistillationLoss.Teacher target(Gpt.Batch b) {
            long rows = (long) b.batch() * b.time();
            if (logits == null || logits.rows() != rows) {
                logits = Nd4j.createUninitializedDetached(DataType.FLOAT, rows, teacher.config().vocabSize());
            }
            runTeacher(b, logits);
            return new DistillationLoss.Dense(logits);
        }
    }

    /**
     * Teacher logits computed beforehand: the batches are the scored windows, drawn by (seed, step, micro).
     * A hidden-state loss still runs the teacher, up to the deepest layer it reads, without its LM head.
     */
    static final class OfflineTeacher extends TeacherObjective {
        private final TeacherLogitWindows windows;
        private Gpt.Batch drawn;
        private DistillationLoss.TopK buckets;

        OfflineTeacher(Gpt teacher, DistillationLoss loss, HiddenStateLoss hidden, TeacherLogitWindows windows) {
            super(teacher, loss, hidden, null);
            this.windows = windows;
        }

        @Override
        Gpt.Batch dataBatch(TokenWindows train, long seed, long step, int micro, int batch, int time)
                throws IOException {
            TeacherLogitWindows.Sampled s = windows.randomBatch(seed, step, micro, batch);
            drawn = s.batch();
            buckets = s.teacher();
            return drawn;
        }

        @Override
        DistillationLoss.Teacher target(Gpt.Batch b) {
            if (b != drawn) {
                throw new IllegalStateException("offline teacher logits belong to the batch they were drawn with");
            }
            if (hidden != null) {
                runTeacher(b, null);
            }
            return buckets;
        }

        @Override
        public void close() throws IOException {
            windows.close();
        }
    }
}
