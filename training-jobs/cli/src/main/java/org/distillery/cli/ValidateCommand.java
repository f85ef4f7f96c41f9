package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Location;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.ExperimentSpec;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.Spec;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TeacherLogitsSpec;
import org.distillery.core.spec.TrainSpec;
import org.distillery.prep.PrepJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * Checks a spec exactly as its job would before it starts (the same {@link SpecReader}), without
 * running anything: for editors and pre-commit hooks. An experiment's member specs are checked too.
 */
@Command(name = "validate", description = "Check a job spec as the job would, without running it; problems are"
        + " printed as file:line: field message (exit code 2), or as JSON with --json.")
final class ValidateCommand implements Callable<Integer> {
    static final String FORMAT = "distillery.validation/1";
    private static final Pattern LOCATED = Pattern.compile("(?s)(.*?):(\\d+): (.*)");
    private static final Pattern FIELD = Pattern.compile(
            "^(?:unknown )?field '([^']+)'(?: in '([^']+)')?|^([a-z_][a-z0-9_.\\[\\]]*) ");

    /** The spec kinds, named as the job commands are. */
    enum Kind {
        PREP(PrepSpec.class), TRAIN(TrainSpec.class), DISTILL(DistillSpec.class),
        TEACHER_LOGITS(TeacherLogitsSpec.class), EXPERIMENT(ExperimentSpec.class);

        final Class<? extends Spec> type;

        Kind(Class<? extends Spec> type) {
            this.type = type;
        }

        static Kind parse(String s) {
            for (Kind k : values()) {
                if (k.command().equals(s)) {
                    return k;
                }
            }
            throw new DistilleryException("KIND: expected one of prep, train, distill, teacher-logits, experiment;"
                    + " found '" + s + "'");
        }

        String command() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** One problem, split for editors: the file and line it is at, the field when one is named. */
    record Problem(String file, int line, String field, String message) {
        static Problem of(String text, String fallbackFile) {
            Matcher m = LOCATED.matcher(text);
            if (!m.matches()) {
                return new Problem(fallbackFile, 1, null, text);
            }
            String message = m.group(3);
            Matcher f = FIELD.matcher(message);
            String field = null;
            if (f.find()) {
                field = f.group(1) == null ? f.group(3) : f.group(2) == null ? f.group(1) : f.group(2) + "." + f.group(1);
            }
            return new Problem(m.group(1), Integer.parseInt(m.group(2)), field, message);
        }
    }

    @ParentCommand
    Distillery top;

    @Parameters(index = "0", paramLabel = "KIND", description = "prep, train, distill, teacher-logits or experiment")
    String kind;

    @Parameters(index = "1", paramLabel = "SPEC", description = "the spec file (YAML)")
    Path specFile;

    @Option(names = "--json", description = "one JSON document (" + FORMAT + ") on stdout, whatever the outcome")
    boolean json;

    @Mixin
    SpecOverrides set;

    @Override
    public Integer call() throws Exception {
        Kind k = Kind.parse(kind);
        List<Problem> problems = check(top, k, specFile, set.list());
        if (json) {
            ObjectNode root = new ObjectMapper().createObjectNode().put("format", FORMAT)
                    .put("file", specFile.toString()).put("kind", k.command()).put("valid", problems.isEmpty());
            ArrayNode list = root.putArray("problems");
            for (Problem p : problems) {
                list.addObject().put("file", p.file()).put("line", p.line()).put("field", p.field())
                        .put("message", p.message());
            }
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } else if (problems.isEmpty()) {
            System.out.println(specFile + ": valid " + k.command() + " spec");
        } else {
            for (Problem p : problems) {
                System.err.println(p.file() + ":" + p.line() + ": " + p.message());
            }
        }
        return problems.isEmpty() ? 0 : 2;
    }

    /**
     * Every problem of the spec (and of an experiment's members), in file order, then what the job would find
     * missing before it starts: the prep output a train spec names, a distill spec's teacher and teacher logits,
     * a prep spec's sources. A spec of another kind is named as such.
     */
    static List<Problem> check(Distillery top, Kind kind, Path file, List<String> overrides) {
        List<Problem> out = new ArrayList<>();
        Spec spec = read(file, kind.type, overrides, out);
        if (spec == null) {
            likelyKind(kind, file).ifPresent(other -> out.add(0, new Problem(file.toString(), 1, null, "this is not a "
                    + kind.command() + " spec but looks like a " + other.command() + " one: distillery validate "
                    + other.command() + " " + file)));
            return out;
        }
        inputs(top, kind, file, overrides, out);
        if (spec instanceof ExperimentSpec e) {
            Path dir = file.toAbsolutePath().getParent();
            for (String member : java.util.stream.Stream.concat(java.util.stream.Stream.of(e.teacher(), e.scratch()),
                    e.students().stream()).toList()) {
                Kind k = member.equals(e.teacher()) || member.equals(e.scratch()) ? Kind.TRAIN : Kind.DISTILL;
                Path m = dir.resolve(member);
                if (read(m, k.type, List.of(), out) != null) {
                    // A student's teacher is the one the experiment trains first: only its data is looked for.
                    if (k == Kind.TRAIN) {
                        inputs(top, k, m, List.of(), out);
                    } else {
                        SpecReader.Located<DistillSpec> l = SpecReader.readLocated(m, DistillSpec.class);
                        run(List.of(() -> TrainingLaunch.shardsWhereTheyAre(top, m, l, l.spec().data())), m, out);
                    }
                }
            }
        }
        return out;
    }

    /** The kind of spec {@code file} reads as without a problem, when it is not {@code asked}. */
    private static java.util.Optional<Kind> likelyKind(Kind asked, Path file) {
        for (Kind k : Kind.values()) {
            if (k != asked) {
                try {
                    SpecReader.read(file, k.type);
                    return java.util.Optional.of(k);
                } catch (DistilleryException e) {
                    // not this kind either
                }
            }
        }
        return java.util.Optional.empty();
    }

    /** What the job of {@code kind} checks of its inputs before it starts, each problem at its spec line. */
    private static void inputs(Distillery top, Kind kind, Path file, List<String> overrides, List<Problem> out) {
        List<Runnable> checks = new ArrayList<>();
        switch (kind) {
            case TRAIN -> {
                SpecReader.Located<TrainSpec> l = SpecReader.readLocated(file, TrainSpec.class, overrides);
                checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, l.spec().data()));
                String init = l.spec().init();
                checks.add(() -> {
                    if (init != null && !Files.isRegularFile(Path.of(init))) {
                        throw l.error("init", "is " + init + ", which is no checkpoint file");
                    }
                });
            }
            case DISTILL -> {
                SpecReader.Located<DistillSpec> l = SpecReader.readLocated(file, DistillSpec.class, overrides);
                checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, l.spec().data()));
                checks.add(() -> TeacherSource.find(top, l, l.spec().teacher(), file));
                String logits = l.spec().distillation().teacherLogits();
                checks.add(() -> {
                    if (logits != null && !Location.parse(logits, file.toAbsolutePath().getParent()).isRemote()) {
                        DistillCommand.teacherLogits(top, l, file, logits);
                    }
                });
            }
            case TEACHER_LOGITS -> {
                SpecReader.Located<TeacherLogitsSpec> l = SpecReader.readLocated(file, TeacherLogitsSpec.class, overrides);
                checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, l.spec().data()));
                checks.add(() -> TeacherSource.find(top, l, l.spec().teacher(), file));
            }
            case PREP -> {
                SpecReader.Located<PrepSpec> l = SpecReader.readLocated(file, PrepSpec.class, overrides);
                PrepSpec spec = l.spec();
                Path dir = file.toAbsolutePath().getParent();
                for (PrepJob.InputProblem p : new PrepJob(spec, dir, top.catalog(), top.workDir().resolve("prep")
                        .resolve(spec.name()), false, ProgressListener.NONE).inputProblems()) {
                    out.add(new Problem(file.toString(), l.line(p.field()), p.field(), p.message()));
                }
            }
            case EXPERIMENT -> {
            }
        }
        run(checks, file, out);
    }

    /** Runs each check, its problem (if any) added to {@code out}. */
    private static void run(List<Runnable> checks, Path file, List<Problem> out) {
        for (Runnable c : checks) {
            try {
                c.run();
            } catch (SpecException e) {
                e.problems().forEach(p -> out.add(Problem.of(p, file.toString())));
            } catch (DistilleryException e) {
                out.add(Problem.of(e.getMessage(), file.toString()));
            }
        }
    }

    private static Spec read(Path file, Class<? extends Spec> type, List<String> overrides, List<Problem> out) {
        try {
            return SpecReader.readLocated(file, type, overrides).spec();
        } catch (SpecException e) {
            e.problems().forEach(p -> out.add(Problem.of(p, file.toString())));
        } catch (DistilleryException e) {
            out.add(Problem.of(e.getMessage(), file.toString()));
        }
        return null;
    }
}
