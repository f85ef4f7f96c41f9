package org.distillery.core.spec;

import java.util.List;
import java.util.Objects;

/**
 * The spec of {@code distillery distill}: a teacher (a Distillery checkpoint or a Hugging Face GPT-2
 * folder), the student's shape and initialisation, the distillation loss, and the training loop's
 * sections as in a train spec. Student fields left out take the teacher's values, but for
 * {@code n_layer}, which defaults to half the teacher's. {@link #validate} is the one place that checks
 * the spec; checks that need the teacher (shapes, tokenizer) run when the job loads it, naming the
 * same fields.
 */
public record DistillSpec(
        String name,
        String teacher,
        TrainSpec.Data data,
        Student student,
        Distillation distillation,
        TrainSpec.Optimizer optimizer,
        TrainSpec.Training training,
        TrainSpec.Eval eval,
        TrainSpec.Checkpoints checkpoints,
        TrainSpec.Tracking tracking,
        TrainSpec.Distributed distributed,
        Long seed) implements Spec {

    public static final List<String> LOSSES = List.of("forward_kl", "reverse_kl", "jsd");
    public static final List<String> INITS = List.of("teacher", "random");
    public static final List<String> HIDDEN_LOSSES = List.of("cosine", "mse");

    public DistillSpec {
        student = Objects.requireNonNullElseGet(student,
                () -> new Student(null, null, null, null, null, null, null, null, null));
        distillation = Objects.requireNonNullElseGet(distillation, () -> new Distillation(null, null, null, null, null, null, null, null));
        optimizer = Objects.requireNonNullElseGet(optimizer,
                () -> new TrainSpec.Optimizer(null, null, null, null, null, null, null, null, null, null));
        training = Objects.requireNonNullElseGet(training, () -> new TrainSpec.Training(null, null, null, null));
        eval = Objects.requireNonNullElseGet(eval, () -> new TrainSpec.Eval(null, null));
        checkpoints = Objects.requireNonNullElseGet(checkpoints, () -> new TrainSpec.Checkpoints(null, null));
        tracking = Objects.requireNonNullElseGet(tracking, () -> new TrainSpec.Tracking(null, null));
        distributed = Objects.requireNonNullElseGet(distributed,
                () -> new TrainSpec.Distributed(null, null, null, null, null, null, null));
        seed = Objects.requireNonNullElse(seed, 1337L);
    }

    /**
     * The student: its shape (unset fields from the teacher; n_layer half the teacher's), and its
     * weights at the start: {@code teacher} copies the embeddings (projected onto the student's width
     * when it is narrower) and, at the teacher's width, the teacher blocks listed in {@code layers}
     * (default: evenly spaced, as DistilBERT's every other layer); {@code random} starts afresh. A student is
     * of its teacher's architecture; a Llama student may have fewer key/value heads ({@code n_kv_head}) and a
     * narrower MLP ({@code intermediate_size}), and keeps the teacher's RoPE base, norm epsilon, head tying and
     * biases.
     */
    public record Student(Integer nLayer, Integer nHead, Integer nKvHead, Integer nEmbd, Integer intermediateSize,
                          Integer blockSize, Double dropout, String init, List<Integer> layers) {
        public Student {
            init = Objects.requireNonNullElse(init, "teacher");
        }

        /**
         * The student's shape given the teacher's. Unset, a Llama student's key/value heads keep the teacher's
         * group size where they can, and its MLP keeps the teacher's ratio to the width.
         */
        public TrainSpec.Model resolve(TrainSpec.Model teacher) {
            int heads = nHead != null ? nHead : teacher.nHead();
            int embd = nEmbd != null ? nEmbd : teacher.nEmbd();
            int kv = 0;
            int inter = 0;
            if (teacher.llama()) {
                int group = teacher.nHead() / teacher.nKvHead();
                kv = nKvHead != null ? nKvHead : heads % group == 0 ? heads / group : heads;
                inter = intermediateSize != null ? intermediateSize
                        : (int) ((long) teacher.intermediateSize() * embd / teacher.nEmbd());
            }
            return teacher.reshaped(nLayer != null ? nLayer : Math.max(1, teacher.nLayer() / 2), heads, kv, embd,
                    inter, blockSize != null ? blockSize : teacher.blockSize(), dropout != null ? dropout : 0.0);
        }
    }

    /**
     * The loss: {@code kd_ratio} · τ² · D(teacher ‖ student at temperature τ) + (1 − kd_ratio) · cross-entropy,
     * D one of {@link #LOSSES}; {@code beta} weighs the generalized JSD (0 is forward KL, 1 reverse KL).
     * {@code teacher_logits} names a {@code distillery teacher-logits} output to learn from in place of
     * running the teacher each step (a folder relative to the spec, or a name under the work dir's
     * teacher-logits/); {@code top_k}, when given, is the k those logits must keep. {@code hidden} adds
     * a loss between hidden states; {@code on_policy} lets the student sample part of its sequences.
     */
    public record Distillation(String loss, Double beta, Double temperature, Double kdRatio, String teacherLogits,
                               Integer topK, Hidden hidden, OnPolicy onPolicy) {
        public Distillation {
            loss = Objects.requireNonNullElse(loss, "forward_kl");
            beta = Objects.requireNonNullElse(beta, 0.5);
            temperature = Objects.requireNonNullElse(temperature, 2.0);
            kdRatio = Objects.requireNonNullElse(kdRatio, 0.5);
        }
    }

    /**
     * A loss between hidden states, added to the distillation loss times {@code weight}: {@code cosine}
     * (1 − cosine per position, as DistilBERT) or {@code mse} (as TinyBERT), between the pairs
     * {@code [student layer, teacher layer]} in {@code layers} (0 is the embeddings, l the residual stream
     * after block l; default: student layer i with teacher layer round(i · teacher layers / student layers)).
     * A learned projection maps the student's width onto the teacher's when they differ.
     */
    public record Hidden(String loss, Double weight, List<List<Integer>> layers) {
        public Hidden {
            loss = Objects.requireNonNullElse(loss, "cosine");
            weight = Objects.requireNonNullElse(weight, 1.0);
        }
    }

    /**
     * On-policy distillation (GKD, Agarwal et al. 2024): each micro-batch is, with probability
     * {@code ratio}, the student's own continuations of the first {@code prompt_tokens} tokens of the data
     * windows, sampled at {@code temperature} (0: greedy) and scored by the teacher with the divergence
     * alone; otherwise the data windows, with the loss above.
     */
    public record OnPolicy(Double ratio, Integer promptTokens, Double temperature) {
        public OnPolicy {
            ratio = Objects.requireNonNullElse(ratio, 0.5);
            promptTokens = Objects.requireNonNullElse(promptTokens, 8);
            temperature = Objects.requireNonNullElse(temperature, 1.0);
        }
    }

    /** The {@code teacher} field of the specs that name one (distill, teacher-logits). */
    static void validateTeacher(Validation v, String teacher) {
        v.require(teacher != null && !teacher.isBlank(), "teacher",
                "is required: a Distillery checkpoint (.ckpt) or a Hugging Face GPT-2 folder");
    }

    /** The training loop's spec for a student of the given shape (data, optimizer, sections, seed). */
    public TrainSpec asTrainSpec(TrainSpec.Model studentModel) {
        return new TrainSpec(name, data, studentModel, optimizer, training, eval, checkpoints, tracking, distributed,
                null, seed);
    }

    @Override
    public void validate(Validation v) {
        TrainSpec.validateName(v, name);
        validateTeacher(v, teacher);
        TrainSpec.validateData(v, data);
        Student s = student;
        v.inRange(s.nLayer(), 1, 256, "student.n_layer");
        v.inRange(s.nHead(), 1, 256, "student.n_head");
        v.inRange(s.nKvHead(), 1, 256, "student.n_kv_head");
        v.inRange(s.intermediateSize(), 1, 1 << 20, "student.intermediate_size");
        v.inRange(s.nEmbd(), 1, 65536, "student.n_embd");
        v.inRange(s.blockSize(), 1, 1 << 20, "student.block_size");
        if (s.dropout() != null) {
            v.require(s.dropout() >= 0 && s.dropout() < 1, "student.dropout", "must be in [0, 1), found " + s.dropout());
        }
        v.oneOf(s.init(), INITS, "student.init");
        if (s.layers() != null) {
            v.require(s.init().equals("teacher"), "student.layers", "copies teacher blocks, so it needs student.init:"
                    + " teacher, found '" + s.init() + "'");
            for (int i = 0; i < s.layers().size(); i++) {
                Integer l = s.layers().get(i);
                v.require(l != null && l >= 0, "student.layers[" + i + "]", "must be a teacher block index (0 or more),"
                        + " found " + l);
            }
            if (s.nLayer() != null) {
                v.require(s.layers().size() == s.nLayer(), "student.layers", "lists " + s.layers().size()
                        + " teacher blocks for a student of student.n_layer " + s.nLayer() + ": one per student block");
            }
        }
        Distillation d = distillation;
        v.oneOf(d.loss(), LOSSES, "distillation.loss");
        v.require(d.temperature() > 0, "distillation.temperature", "must be positive, found " + d.temperature());
        v.require(d.kdRatio() >= 0 && d.kdRatio() <= 1, "distillation.kd_ratio", "must be in [0, 1] (the weight of"
                + " the distillation term against cross-entropy), found " + d.kdRatio());
        v.require(d.beta() >= 0 && d.beta() <= 1, "distillation.beta", "must be in [0, 1], found " + d.beta());
        v.inRange(d.topK(), 1, 65536, "distillation.top_k");
        if (d.topK() != null) {
            v.require(d.teacherLogits() != null, "distillation.top_k", "checks offline teacher logits, so it needs"
                    + " distillation.teacher_logits");
        }
        if (d.hidden() != null) {
            Hidden h = d.hidden();
            v.oneOf(h.loss(), HIDDEN_LOSSES, "distillation.hidden.loss");
            v.require(h.weight() >= 0 && Double.isFinite(h.weight()), "distillation.hidden.weight",
                    "must be 0 or more, found " + h.weight());
            if (h.layers() != null) {
                v.require(!h.layers().isEmpty(), "distillation.hidden.layers", "is empty: list [student layer, teacher"
                        + " layer] pairs, or leave it out for the default pairing");
                for (int i = 0; i < h.layers().size(); i++) {
                    List<Integer> pair = h.layers().get(i);
                    v.require(pair != null && pair.size() == 2 && pair.get(0) != null && pair.get(1) != null
                                    && pair.get(0) >= 0 && pair.get(1) >= 0, "distillation.hidden.layers[" + i + "]",
                            "must be a pair [student layer, teacher layer] of layer indices (0: embeddings, l: after"
                                    + " block l), found " + pair);
                }
            }
        }
        if (d.onPolicy() != null) {
            OnPolicy o = d.onPolicy();
            v.require(o.ratio() >= 0 && o.ratio() <= 1, "distillation.on_policy.ratio", "must be in [0, 1] (the"
                    + " fraction of micro-batches the student samples), found " + o.ratio());
            v.require(o.promptTokens() >= 1, "distillation.on_policy.prompt_tokens", "must be 1 or more, found "
                    + o.promptTokens());
            v.require(o.temperature() >= 0, "distillation.on_policy.temperature", "must be 0 (greedy) or more, found "
                    + o.temperature());
            v.require(d.teacherLogits() == null, "distillation.on_policy", "needs a live teacher to score the"
                    + " student's samples, but distillation.teacher_logits is set: stored logits only cover the data");
        }
        TrainSpec.validateLoop(v, optimizer, training, eval, checkpoints);
        TrainSpec.validateDistributed(v, distributed);
    }
}
