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
        SpecReader.Located<? extends Spec> located = read(file, kind.type, overrides, out);
        if (located == null) {
            likelyKind(kind, file).ifPresent(other -> out.add(0, new Problem(file.toString(), 1, null, "this is not a "
                    + kind.command() + " spec but looks like a " + other.command() + " one: distillery validate "
                    + other.command() + " " + file)));
            return out;
        }
        inputs(top, file, located, false, out);
        if (located.spec() instanceof ExperimentSpec e) {
            Path dir = file.toAbsolutePath().getParent();
            for (String member : java.util.stream.Stream.concat(java.util.stream.Stream.of(e.teacher(), e.scratch()),
                    e.students().stream()).toList()) {
                Kind k = member.equals(e.teacher()) || member.equals(e.scratch()) ? Kind.TRAIN : Kind.DISTILL;
                Path m = dir.resolve(member);
                SpecReader.Located<? extends Spec> l = read(m, k.type, List.of(), out);
                if (l != null) {
                    inputs(top, m, l, true, out);
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

    /**
     * What the job of {@code l}'s kind checks of its inputs before it starts, each problem at its spec line. A student
     * of an experiment ({@code member}) is taught by the teacher the experiment trains first: only its data is looked
     * for.
     */
    private static void inputs(Distillery top, Path file, SpecReader.Located<? extends Spec> l, boolean member,
                               List<Problem> out) {
        List<Runnable> checks = new ArrayList<>();
        if (l.spec() instanceof TrainSpec t) {
            checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, t.data()));
            checks.add(() -> {
                if (t.init() != null && !Files.isRegularFile(Path.of(t.init()))) {
                    throw l.error("init", "is " + t.init() + ", which is no checkpoint file");
                }
            });
        } else if (l.spec() instanceof DistillSpec d) {
            checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, d.data()));
            if (!member) {
                checks.add(() -> TeacherSource.find(top, l, d.teacher(), file));
                String logits = d.distillation().teacherLogits();
                checks.add(() -> {
                    if (logits != null && !Location.parse(logits, file.toAbsolutePath().getParent()).isRemote()) {
                        DistillCommand.teacherLogits(top, l, file, logits);
                    }
                });
            }
        } else if (l.spec() instanceof TeacherLogitsSpec t) {
            checks.add(() -> TrainingLaunch.shardsWhereTheyAre(top, file, l, t.data()));
            checks.add(() -> TeacherSource.find(top, l, t.teacher(), file));
        } else if (l.spec() instanceof PrepSpec p) {
            Path dir = file.toAbsolutePath().getParent();
            for (PrepJob.InputProblem problem : new PrepJob(p, dir, top.catalog(), top.workDir().resolve("prep")
                    .resolve(p.name()), false, ProgressListener.NONE).inputProblems()) {
                out.add(new Problem(file.toString(), l.line(problem.field()), problem.field(), problem.message()));
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

    private static SpecReader.Located<? extends Spec> read(Path file, Class<? extends Spec> type,
                                                           List<String> overrides, List<Problem> out) {
        try {
            return SpecReader.readLocated(file, type, overrides);
        } catch (SpecException e) {
            e.problems().forEach(p -> out.add(Problem.of(p, file.toString())));
        } catch (DistilleryException e) {
            out.add(Problem.of(e.getMessage(), file.toString()));
        }
        return null;
    }
}
