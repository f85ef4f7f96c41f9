package org.distillery.core.spec;

import java.util.List;
import java.util.Objects;

/**
 * The spec of {@code distillery teacher-logits}: a teacher run over one split of a prep output on
 * Spark, keeping its {@code top_k} logits and the rest's log-sum-exp at {@code temperature} for every
 * position of consecutive windows of {@code window} tokens. A distill spec reads the output with
 * {@code distillation.teacher_logits}; its temperature and its student's block_size must match these.
 * Checks that need the teacher (window against its block_size, top_k against its vocabulary) run when
 * the job loads it, naming the same fields.
 */
public record TeacherLogitsSpec(
        String name,
        String teacher,
        TrainSpec.Data data,
        String split,
        Integer topK,
        Double temperature,
        Integer window,
        Integer batchSize,
        PrepSpec.Spark spark) implements Spec {

    public static final List<String> SPLITS = List.of("train", "val");

    public TeacherLogitsSpec {
        split = Objects.requireNonNullElse(split, "train");
        topK = Objects.requireNonNullElse(topK, 32);
        temperature = Objects.requireNonNullElse(temperature, 2.0);
        batchSize = Objects.requireNonNullElse(batchSize, 8);
        spark = Objects.requireNonNullElseGet(spark, () -> new PrepSpec.Spark(null, null));
    }

    @Override
    public void validate(Validation v) {
        TrainSpec.validateName(v, name);
        DistillSpec.validateTeacher(v, teacher);
        TrainSpec.validateData(v, data);
        v.oneOf(split, SPLITS, "split");
        v.inRange(topK, 1, 65536, "top_k");
        v.require(temperature > 0, "temperature", "must be positive, found " + temperature);
        v.inRange(window, 1, 1 << 20, "window");
        v.inRange(batchSize, 1, 4096, "batch_size");
        v.inRange(spark.partitions(), 1, 1_000_000, "spark.partitions");
    }
}
