package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.distillery.core.DistilleryException;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.ExperimentSpec;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.Spec;
import org.distillery.core.spec.SpecException;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TeacherLogitsSpec;
import org.distillery.core.spec.TrainSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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

    @Parameters(index = "0", paramLabel = "KIND", description = "prep, train, distill, teacher-logits or experiment")
    String kind;

    @Parameters(index = "1", paramLabel = "SPEC", description = "the spec file (YAML)")
    Path specFile;

    @Option(names = "--json", description = "one JSON document (" + FORMAT + ") on stdout, whatever the outcome")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Kind k = Kind.parse(kind);
        List<Problem> problems = check(k, specFile);
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

    /** Every problem of the spec (and of an experiment's members), in file order. */
    static List<Problem> check(Kind kind, Path file) {
        List<Problem> out = new ArrayList<>();
        Spec spec = read(file, kind.type, out);
        if (spec instanceof ExperimentSpec e) {
            Path dir = file.toAbsolutePath().getParent();
            read(dir.resolve(e.teacher()), TrainSpec.class, out);
            read(dir.resolve(e.scratch()), TrainSpec.class, out);
            for (String s : e.students()) {
                read(dir.resolve(s), DistillSpec.class, out);
            }
        }
        return out;
    }

    private static Spec read(Path file, Class<? extends Spec> type, List<Problem> out) {
        try {
            return SpecReader.read(file, type);
        } catch (SpecException e) {
            e.problems().forEach(p -> out.add(Problem.of(p, file.toString())));
        } catch (DistilleryException e) {
            out.add(Problem.of(e.getMessage(), file.toString()));
        }
        return null;
    }
}
