package org.distillery.core.spec;

import java.util.List;
import java.util.Objects;

/**
 * The spec of {@code distillery experiment}: does distillation pay at one token budget? It names a
 * train spec for the teacher, a train spec for a student trained from scratch, and distill specs for
 * students of the scratch student's shape and budget (the first is the headline; others are
 * ablations), each a file relative to this one. All runs nest under one parent run; the report gives
 * each model's loss on the held-out split and the fraction of the scratch-to-teacher gap each
 * distilled student closed, against {@code goal}. Checks across the named specs (same shape, same
 * budget, the students' teacher) run when the command reads them, naming the spec and field.
 */
public record ExperimentSpec(
        String name,
        String teacher,
        String scratch,
        List<String> students,
        Double goal,
        TrainSpec.Tracking tracking) implements Spec {

    public ExperimentSpec {
        students = Objects.requireNonNullElse(students, List.of());
        goal = Objects.requireNonNullElse(goal, 0.5);
        tracking = Objects.requireNonNullElseGet(tracking, () -> new TrainSpec.Tracking(null, null));
    }

    @Override
    public void validate(Validation v) {
        TrainSpec.validateName(v, name);
        v.require(teacher != null && !teacher.isBlank(), "teacher", "is required: the teacher's train spec");
        v.require(scratch != null && !scratch.isBlank(), "scratch",
                "is required: the train spec of a student trained from scratch");
        v.require(!students.isEmpty(), "students", "must list at least one distill spec");
        for (int i = 0; i < students.size(); i++) {
            String s = students.get(i);
            v.require(s != null && !s.isBlank(), "students[" + i + "]", "must name a distill spec");
        }
        v.require(goal > 0 && goal <= 1, "goal", "must be in (0, 1], the fraction of the gap to close, found " + goal);
    }
}
