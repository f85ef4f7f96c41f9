package org.distillery.model;

import com.fasterxml.jackson.core.type.TypeReference;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunTracker;
import org.distillery.core.progress.ProgressListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code distillery distill}: a student trained on prep shards against a live teacher's logits with a
 * {@link DistillationLoss}, through {@link TrainJob}'s loop (so schedule, accumulation, evaluation,
 * checkpoints, resume and tracking are those of training). Before anything runs, the teacher and the
 * shards must share a tokenizer. Every checkpoint records the distill spec and the teacher it learnt
 * from; the run's tags name the teacher, and {@code val/teacher_loss} gives the gap to close.
 */
public final class DistillJob {
    public static final String JOB = "distill";

    private final SpecReader.Located<DistillSpec> located;
    private final DistillSpec spec;
    private final Checkpoint teacher;
    private final String teacherSource;
    private final Path dataDir;
    private final Path outDir;
    private final boolean resume;
    private final RunTracker tracker;
    private final ProgressListener progress;
    private final String version;
    private final PrintStream warnings;

    public DistillJob(SpecReader.Located<DistillSpec> spec, Checkpoint teacher, String teacherSource, Path dataDir,
                      Path outDir, boolean resume, RunTracker tracker, ProgressListener progress, String version,
                      PrintStream warnings) {
        this.located = spec;
        this.spec = spec.spec();
        this.teacher = teacher;
        this.teacherSource = teacherSource;
        this.dataDir = dataDir;
        this.outDir = outDir;
        this.resume = resume;
        this.tracker = tracker;
        this.progress = progress;
        this.version = version;
        this.warnings = warnings;
    }

    public TrainJob.Result run() throws IOException {
        ShardManifest manifest = ShardManifest.read(dataDir);
        Checkpoint.Header th = teacher.header();
        if (!th.tokenizer().sha256().equals(manifest.tokenizer().sha256())) {
            throw new DistilleryException("the teacher " + teacherSource + " uses tokenizer sha256 "
                    + th.tokenizer().sha256() + ", but the shards in " + dataDir + " use tokenizer sha256 "
                    + manifest.tokenizer().sha256() + ": teacher and student must share a tokenizer (prep the data"
                    + " with the teacher's tokenizer.json)");
        }
        GptConfig tc = th.model();
        if (tc.vocabSize() != manifest.tokenizer().vocabSize()) {
            throw new DistilleryException("the teacher " + teacherSource + " has a vocabulary of " + tc.vocabSize()
                    + " but its tokenizer, which the shards use, has " + manifest.tokenizer().vocabSize()
                    + " tokens: the student's logits must line up with the teacher's");
        }
        TrainSpec.Model shape = spec.student().resolve(tc.nLayer(), tc.nHead(), tc.nEmbd(), tc.blockSize());
        if (shape.nEmbd() % shape.nHead() != 0) {
            throw located.error("student.n_embd", "is " + shape.nEmbd() + ", not divisible by student.n_head ("
                    + shape.nHead() + ")");
        }
        if (shape.blockSize() > tc.blockSize()) {
            throw located.error("student.block_size", "is " + shape.blockSize() + ", longer than the teacher's "
                    + tc.blockSize() + ": the teacher cannot score positions beyond its own");
        }
        GptConfig sc = new GptConfig(shape.nLayer(), shape.nHead(), shape.nEmbd(), shape.blockSize(), tc.vocabSize(),
                shape.dropout());
        if (sc.parameterCount() >= tc.parameterCount()) {
            warnings.println("warning: " + located.source() + ": the student (" + sc.parameterCount()
                    + " parameters) is not smaller than the teacher (" + tc.parameterCount() + "): distillation is"
                    + " meant to make a cheaper model");
        }
        DistillSpec.Distillation d = spec.distillation();
        DistillationLoss loss = new DistillationLoss(DistillationLoss.Divergence.parse(d.loss()), d.beta(),
                d.temperature(), d.kdRatio());
        Gpt teacherModel = new Gpt(GptParameters.wrap(tc, teacher.section(Checkpoint.PARAMS)));
        LiveTeacher objective = new LiveTeacher(teacherModel, loss);

        Map<String, Object> provenance = Checkpoint.JSON.convertValue(spec, new TypeReference<Map<String, Object>>() { });
        Map<String, Object> teacherInfo = new LinkedHashMap<>();
        teacherInfo.put("source", teacherSource);
        teacherInfo.put("model", Checkpoint.JSON.convertValue(tc, new TypeReference<Map<String, Object>>() { }));
        teacherInfo.put("step", th.step());
        teacherInfo.put("run_id", th.runId());
        provenance.put("teacher_checkpoint", teacherInfo);
        Map<String, String> tags = new LinkedHashMap<>();
        tags.put("distillery.teacher.source", teacherSource);
        tags.put("distillery.teacher.parameters", String.valueOf(tc.parameterCount()));
        if (th.runId() != null) {
            tags.put("distillery.teacher.run_id", th.runId());
        }
        tracker.setTags(tags);

        List<Integer> layers = spec.student().layers();
        TrainJob.Setup setup = new TrainJob.Setup(JOB, objective,
                config -> spec.student().init().equals("teacher")
                        ? StudentInit.fromTeacher(teacherModel.parameters(), config, layers, spec.seed())
                        : GptParameters.initialize(config, spec.seed()),
                provenance);
        SpecReader.Located<TrainSpec> loop = new SpecReader.Located<>(spec.asTrainSpec(shape), located.source(),
                located.lines());
        return new TrainJob(loop, dataDir, outDir, resume, tracker, progress, version, setup).run();
    }

    /** The objective against a teacher run on each batch: its logits, then the distillation loss. */
    static final class LiveTeacher implements TrainJob.Objective {
        private final Gpt teacher;
        private final DistillationLoss loss;
        /** The teacher's logits of the current batch, reused from batch to batch. */
        private INDArray logits;
        private double kd;
        private double ce;
        private int batches;

        LiveTeacher(Gpt teacher, DistillationLoss loss) {
            this.teacher = teacher;
            this.loss = loss;
        }

        @Override
        public double lossAndGradient(Gpt model, Gpt.Batch b, GptParameters grads, double scale, long dropoutSeed) {
            long rows = (long) b.batch() * b.time();
            if (logits == null || logits.rows() != rows) {
                logits = Nd4j.createUninitializedDetached(DataType.FLOAT, rows, teacher.config().vocabSize());
            }
            teacher.logits(b.inputs(), b.batch(), b.time(), logits);
            DistillationLoss.Teacher target = new DistillationLoss.Dense(logits);
            return model.lossAndGradient(b, grads, scale, dropoutSeed, (l, targets, g, s) -> {
                DistillationLoss.Value v = loss.apply(l, target, targets, g, s);
                kd += v.kd();
                ce += v.ce();
                batches++;
                return v.loss();
            });
        }

        /** The teacher's loss on the val windows: the floor the student's {@code val/loss} is compared with. */
        @Override
        public void begin(TokenWindows val, int evalBatches, int batch, int time, RunTracker tracker) {
            double sum = 0;
            for (int i = 0; i < evalBatches; i++) {
                sum += teacher.loss(val.evalBatch(i, evalBatches, batch, time));
            }
            tracker.logMetric("val/teacher_loss", sum / evalBatches, 0);
        }

        @Override
        public Map<String, Double> takeParts() {
            if (batches == 0) {
                return Map.of();
            }
            Map<String, Double> parts = Map.of("kd", kd / batches, "ce", ce / batches);
            kd = 0;
            ce = 0;
            batches = 0;
            return parts;
        }
    }
}
