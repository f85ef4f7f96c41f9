package org.distillery.workbench.core.experiments;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A distillation experiment as {@code distillery experiment} left it in its folder: the report's table (teacher,
 * scratch student, distilled students: held-out loss, gap closed, tokens), its loss-curve plot, and the serving
 * scorecard of the teacher's and headline student's exports. Read from {@code report.json}
 * ({@code <work-dir>/experiment/<name>/}); the folder's other files are found by their names.
 *
 * @param folder           the experiment's folder
 * @param name             its name
 * @param goal             the share of the gap the headline student should close
 * @param goalMet          whether it did
 * @param members          the models, teacher first
 * @param served           the scorecard's rows; empty when the scorecard was not run
 * @param scorecardProblem why the scorecard could not be run, or null
 */
public record ExperimentResult(Path folder, String name, double goal, boolean goalMet, List<Member> members,
                               List<Served> served, String scorecardProblem) {
    public static final String REPORT = "report.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public ExperimentResult {
        members = List.copyOf(members);
        served = List.copyOf(served);
    }

    /**
     * One model of the experiment.
     *
     * @param role                   teacher, scratch or student
     * @param name                   its spec's name
     * @param parameters             all its parameters
     * @param nonEmbeddingParameters without the vocabulary- and position-sized matrices
     * @param trainTokens            tokens it trained on
     * @param epochs                 of the train split they make
     * @param heldOutLoss            on the whole held-out split
     * @param gapClosed              a student's share of the scratch-to-teacher gap, else null
     * @param runId                  its run in the local store
     */
    public record Member(String role, String name, long parameters, long nonEmbeddingParameters, long trainTokens,
                         double epochs, double heldOutLoss, Double gapClosed, String runId) {
    }

    /**
     * One export in the serving scorecard, measured in its runtime.
     *
     * @param label           the export's name
     * @param role            teacher or student
     * @param format          gguf, onnx or hf
     * @param dtype           its weights' type
     * @param bytes           size on disk
     * @param runtime         the runtime that ran it
     * @param loss            held-out loss in that runtime
     * @param qualityRetained against the teacher's fp32 export
     * @param generatePerS    generation tokens/s at batch 1
     * @param path            the export's folder
     */
    public record Served(String label, String role, String format, String dtype, long bytes, String runtime, double loss,
                         double qualityRetained, double generatePerS, Path path) {
    }

    /** The loss curves the report drew, or null when absent. */
    public Path plot() {
        return existing(folder.resolve("loss-curves.png"));
    }

    /** The scorecard's plot of loss against speed and size, or null when absent. */
    public Path scorecardPlot() {
        return existing(folder.resolve("scorecard.png"));
    }

    /** The headline student: the first distilled one, or null. */
    public Member headline() {
        return members.stream().filter(m -> m.role().equals("student")).findFirst().orElse(null);
    }

    private static Path existing(Path p) {
        return Files.isRegularFile(p) ? p : null;
    }

    /**
     * The experiments under {@code <workDir>/experiment}, by name; a folder whose report cannot be read is listed in
     * {@code problems} (its file and what was wrong) instead.
     */
    public static Listing list(Path workDir) {
        Path root = workDir.resolve("experiment");
        List<ExperimentResult> found = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return new Listing(found, problems);
        }
        try (Stream<Path> dirs = Files.list(root)) {
            for (Path d : dirs.sorted().toList()) {
                Path report = d.resolve(REPORT);
                if (!Files.isRegularFile(report)) {
                    continue; // still running, or not an experiment
                }
                try {
                    found.add(read(report));
                } catch (IOException | IllegalArgumentException e) {
                    problems.add(e.getMessage());
                }
            }
        } catch (IOException e) {
            problems.add(root + ": cannot list the experiments: " + e.getMessage());
        }
        return new Listing(found, problems);
    }

    /** What {@link #list} found. */
    public record Listing(List<ExperimentResult> experiments, List<String> problems) {
    }

    /** Reads one {@code report.json}; a damaged one is an error naming the file and the field. */
    public static ExperimentResult read(Path report) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(report.toFile());
        } catch (IOException e) {
            throw new IOException(report + ": not a report.json of distillery experiment: " + e.getMessage(), e);
        }
        List<Member> members = new ArrayList<>();
        for (JsonNode r : required(n, "rows", report)) {
            members.add(new Member(text(r, "role", report).toLowerCase(java.util.Locale.ROOT), text(r, "name", report),
                    r.path("parameters").asLong(), r.path("non_embedding_parameters").asLong(),
                    r.path("train_tokens").asLong(), r.path("epochs").asDouble(Double.NaN),
                    number(r, "held_out_loss", report), r.path("gap_closed").isNumber()
                    ? r.path("gap_closed").asDouble() : null, r.path("run_id").asText(null)));
        }
        List<Served> served = new ArrayList<>();
        for (JsonNode r : n.path("scorecard").path("rows")) {
            double gen = Double.NaN;
            for (JsonNode s : r.path("speeds")) {
                if (s.path("batch").asInt() == 1) {
                    gen = s.path("generate_tokens_per_s").asDouble(Double.NaN);
                }
            }
            served.add(new Served(text(r, "label", report), r.path("role").asText(""), r.path("format").asText(""),
                    r.path("dtype").asText(""), r.path("bytes").asLong(), r.path("runtime").asText(""),
                    number(r, "loss", report), r.path("quality_retained").asDouble(Double.NaN), gen,
                    r.hasNonNull("path") ? Path.of(r.path("path").asText()) : null));
        }
        return new ExperimentResult(report.getParent(), text(n, "name", report), n.path("goal").asDouble(Double.NaN),
                n.path("goal_met").asBoolean(), members, served, n.path("scorecard_problem").asText(null));
    }

    private static JsonNode required(JsonNode n, String field, Path file) {
        JsonNode v = n.path(field);
        if (v.isMissingNode() || v.isNull()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' is missing");
        }
        return v;
    }

    private static String text(JsonNode n, String field, Path file) {
        return required(n, field, file).asText();
    }

    private static double number(JsonNode n, String field, Path file) {
        JsonNode v = required(n, field, file);
        if (!v.isNumber()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' is " + v + ", expected a number");
        }
        return v.asDouble();
    }
}
