package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.DistillSpec;
import org.distillery.core.spec.ExperimentSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TrainSpec;
import org.distillery.core.tracking.RunStatus;
import org.distillery.model.Checkpoint;
import org.distillery.model.Gpt;
import org.distillery.model.GptParameters;
import org.distillery.model.train.HeldOutLoss;
import org.distillery.model.train.TokenWindows;
import org.distillery.model.train.TrainJob;
import org.distillery.core.runs.LocalRunStore;
import org.distillery.tracking.TrackedRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code distillery experiment}: the teacher, the scratch student and the distilled students of an
 * {@link ExperimentSpec}, one after the other, as child runs of one parent run; then every model on
 * the whole held-out split and a report (table, JSON, loss-curve PNG) of the gap each student closed.
 * Run again, it resumes: finished runs are kept, an interrupted one continues from its checkpoint,
 * all under the same parent.
 */
@Command(name = "experiment", description = "Teacher, scratch student and distilled students at one token budget,"
        + " under one parent run, with a report of the gap distillation closed.")
final class ExperimentCommand implements Callable<Integer> {
    static final String STATE_FILE = "experiment.json";

    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the experiment spec (YAML)")
    Path specFile;

    @Option(names = "--out", description = "output folder (default: <work-dir>/experiment/<name>)")
    Path out;

    @Option(names = "--python", description = "Python with llama-cpp-python for the scorecard (default:"
            + " $DISTILLERY_PYTHON, .venv/bin/python, python3; bin/setup-python installs it)")
    String python;

    /** The dtypes the scorecard exports the teacher and the headline student in. */
    static final List<org.distillery.export.ExportDtype> SCORECARD_DTYPES = List.of(
            org.distillery.export.ExportDtype.FP32, org.distillery.export.ExportDtype.FP16,
            org.distillery.export.ExportDtype.Q8_0, org.distillery.export.ExportDtype.Q4_0);

    /** One model of the experiment: what it is, where its spec and output are. */
    record Member(ExperimentReport.Role role, String name, Path specFile, SpecReader.Located<?> located, Path output,
                  long tokensPerStep, Path data) {
    }

    @Override
    public Integer call() throws Exception {
        SpecReader.Located<ExperimentSpec> located = SpecReader.readLocated(specFile, ExperimentSpec.class);
        ExperimentSpec spec = located.spec();
        Path dir = specFile.toAbsolutePath().getParent();
        Path output = (out != null ? out : top.workDir().resolve("experiment").resolve(spec.name())).toAbsolutePath();
        List<Member> members = members(located, dir, output);
        check(located, members);

        Files.createDirectories(output);
        String experiment = spec.tracking().experiment() != null ? spec.tracking().experiment() : spec.name();
        String parentId = parentRunId(output);
        List<ExperimentReport.Row> rows = new ArrayList<>();
        try (TrackedRun parent = TrackedRun.open(top.runStore(), top.trackingUri(spec.tracking().uri()), experiment,
                "experiment-" + spec.name(), null, parentId, System.err)) {
            writeState(output, parent.runId());
            try {
                parent.logArtifact(specFile, "spec");
                for (Member m : members) {
                    parent.logArtifact(m.specFile(), "spec");
                }
                for (Member m : members) {
                    boolean resume = TrainJob.newestCheckpoint(m.output()) != null;
                    TrainingLaunch.Launched l = switch (m.role()) {
                        case TEACHER, SCRATCH -> TrainCommand.launch(top, cast(m.located()), m.specFile(), m.output(),
                                resume, parent.runId());
                        case STUDENT -> DistillCommand.launch(top, cast(m.located()), m.specFile(), m.output(), resume,
                                parent.runId());
                    };
                    rows.add(evaluate(m, l));
                }
                LocalRunStore store = new LocalRunStore(top.runStore());
                Map<String, List<LocalRunStore.Metric>> curves = new LinkedHashMap<>();
                for (ExperimentReport.Row r : rows) {
                    curves.put(r.name(), store.metrics(store.find(r.runId())));
                }
                Scorecard card = null;
                String problem = null;
                try {
                    card = scorecard(members, output);
                } catch (DistilleryException e) { // the training results stand without it; the report says why
                    problem = e.getMessage();
                    System.err.println("warning: no scorecard in the report: " + problem);
                }
                ExperimentReport report = ExperimentReport.of(spec, rows, card, problem);
                List<Path> files = report.write(output, curves, members.stream()
                        .collect(java.util.stream.Collectors.toMap(Member::name, Member::tokensPerStep)));
                for (Path f : files) {
                    parent.logArtifact(f, "report");
                }
                for (ExperimentReport.Row r : rows) {
                    parent.logMetric("held_out/" + r.name() + "/loss", r.heldOutLoss(), 0);
                    if (r.gapClosed() != null) {
                        parent.logMetric("gap_closed/" + r.name(), r.gapClosed(), 0);
                    }
                }
                parent.setTags(Map.of("distillery.experiment.goal_met", String.valueOf(report.goalMet())));
                parent.finish(RunStatus.FINISHED);
                System.out.print(report.table());
                System.out.println("report         " + output.resolve(ExperimentReport.MARKDOWN));
            } catch (RuntimeException | IOException e) {
                parent.finish(RunStatus.FAILED);
                throw e;
            }
        }
        return 0;
    }

    @SuppressWarnings("unchecked")
    private static <T extends org.distillery.core.spec.Spec> SpecReader.Located<T> cast(SpecReader.Located<?> l) {
        return (SpecReader.Located<T>) l;
    }

    private List<Member> members(SpecReader.Located<ExperimentSpec> located, Path dir, Path output) {
        ExperimentSpec spec = located.spec();
        List<Member> members = new ArrayList<>();
        SpecReader.Located<TrainSpec> teacher = SpecReader.readLocated(dir.resolve(spec.teacher()), TrainSpec.class);
        SpecReader.Located<TrainSpec> scratch = SpecReader.readLocated(dir.resolve(spec.scratch()), TrainSpec.class);
        members.add(member(ExperimentReport.Role.TEACHER, teacher, dir.resolve(spec.teacher()), output));
        members.add(member(ExperimentReport.Role.SCRATCH, scratch, dir.resolve(spec.scratch()), output));
        for (String s : spec.students()) {
            Path f = dir.resolve(s);
            SpecReader.Located<DistillSpec> d = SpecReader.readLocated(f, DistillSpec.class);
            TrainSpec.Model shape = studentShape(d.spec(), teacher.spec());
            members.add(new Member(ExperimentReport.Role.STUDENT, d.spec().name(), f, d, output.resolve(d.spec().name()),
                    tokensPerStep(d.spec().training(), shape.blockSize()),
                    TrainingLaunch.shards(top, f, d, d.spec().data())));
        }
        java.util.Set<String> names = new java.util.HashSet<>();
        for (int i = 0; i < members.size(); i++) {
            if (!names.add(members.get(i).name())) {
                String field = i == 1 ? "scratch" : "students[" + (i - 2) + "]";
                throw located.error(field, "names a spec called '" + members.get(i).name() + "', like another run of this"
                        + " experiment: each run needs its own name (its output folder and run name)");
            }
        }
        return members;
    }

    private Member member(ExperimentReport.Role role, SpecReader.Located<TrainSpec> l, Path file, Path output) {
        return new Member(role, l.spec().name(), file, l, output.resolve(l.spec().name()),
                tokensPerStep(l.spec().training(), l.spec().model().blockSize()),
                TrainingLaunch.shards(top, file, l, l.spec().data()));
    }

    static long tokensPerStep(TrainSpec.Training t, int blockSize) {
        return (long) t.batchSize() * t.gradAccum() * blockSize;
    }

    private static TrainSpec.Model studentShape(DistillSpec d, TrainSpec teacher) {
        return d.student().resolve(teacher.model());
    }

    /**
     * The comparison is only fair when the scratch student is the distilled students' shape and every
     * student sees the same data and the same number of tokens; and the students must learn from this
     * experiment's teacher.
     */
    private void check(SpecReader.Located<ExperimentSpec> located, List<Member> members) {
        TrainSpec teacher = (TrainSpec) members.get(0).located().spec();
        SpecReader.Located<?> scratchL = members.get(1).located();
        TrainSpec scratch = (TrainSpec) scratchL.spec();
        Path data = members.get(0).data();
        Path teacherModel = members.get(0).output().resolve(TrainJob.MODEL_FILE);
        for (int i = 1; i < members.size(); i++) {
            Member m = members.get(i);
            if (!m.data().equals(data)) {
                throw m.located().error("data", "points at " + m.data() + ", but the teacher's spec "
                        + members.get(0).specFile() + " trains on " + data + ": an experiment compares models on one"
                        + " data set");
            }
            if (!(m.located().spec() instanceof DistillSpec ds)) {
                continue;
            }
            TrainSpec.Model shape = studentShape(ds, teacher);
            TrainSpec.Model sm = scratch.model();
            if (!describe(shape).equals(describe(sm))) {
                throw scratchL.error("model", "is " + describe(sm) + ", but " + m.specFile() + " distills into "
                        + describe(shape) + ": the scratch student must have the distilled student's shape");
            }
            long budget = ds.training().steps() * m.tokensPerStep();
            long scratchBudget = scratch.training().steps() * members.get(1).tokensPerStep();
            if (budget != scratchBudget) {
                throw m.located().error("training", "gives the student " + budget + " training tokens (steps x batch_size"
                        + " x grad_accum x block_size), but the scratch student " + members.get(1).specFile() + " gets "
                        + scratchBudget + ": compare them at one token budget");
            }
            if (!TeacherSource.candidates(top, ds.teacher(), m.specFile()).contains(teacherModel)) {
                throw m.located().error("teacher", "is " + ds.teacher() + ", but this experiment ("
                        + located.source() + ") trains its teacher into " + teacherModel + ": name that file (relative to the"
                        + " work dir: " + top.workDir().toAbsolutePath().relativize(teacherModel) + ")");
            }
        }
    }

    private static String describe(TrainSpec.Model m) {
        String shape = "n_layer " + m.nLayer() + ", n_head " + m.nHead() + ", n_embd " + m.nEmbd() + ", block_size "
                + m.blockSize();
        return !m.llama() ? shape : "arch llama, " + shape + ", n_kv_head " + m.nKvHead() + ", intermediate_size "
                + m.intermediateSize() + ", rope_theta " + m.ropeTheta() + ", tie_word_embeddings "
                + m.tieWordEmbeddings() + ", attention_bias " + m.attentionBias();
    }

    /** A model's loss on the whole val split, with what the report needs about its run. */
    private ExperimentReport.Row evaluate(Member m, TrainingLaunch.Launched l) throws IOException {
        Checkpoint ck = Checkpoint.read(l.result().model());
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));
        HeldOutLoss h;
        try (TokenWindows val = TokenWindows.open(m.data(), ShardManifest.read(m.data()), "val")) {
            h = HeldOutLoss.of(gpt, val, 16);
        }
        long trainTokens = ShardManifest.read(m.data()).tokens("train");
        return new ExperimentReport.Row(m.role(), m.name(), ck.header().model().parameterCount(),
                ck.header().model().nonEmbeddingParameterCount(), ck.header().tokensSeen(),
                (double) ck.header().tokensSeen() / trainTokens,
                h.loss(), h.tokens(), l.result().valLoss(), l.runId(), null);
    }

    /**
     * The teacher and the headline student, each exported as GGUF in {@link #SCORECARD_DTYPES} under
     * {@code <out>/exports/} and measured in llama.cpp on the val split, quality retained against the teacher's fp32.
     */
    private Scorecard scorecard(List<Member> members, Path output) throws IOException, InterruptedException {
        Member teacher = members.get(0);
        Member headline = members.stream().filter(m -> m.role() == ExperimentReport.Role.STUDENT).findFirst()
                .orElseThrow();
        List<org.distillery.export.ExportFolder.Part> parts = new ArrayList<>();
        try (org.distillery.core.progress.ProgressListener progress = top.progress()) {
            for (Member m : List.of(teacher, headline)) {
                Path model = m.output().resolve(TrainJob.MODEL_FILE);
                Checkpoint ck = Checkpoint.read(model);
                org.distillery.export.ExportProvenance provenance = org.distillery.export.ExportProvenance.of(
                        ck.header(), model.toString(), Distillery.version());
                for (org.distillery.export.ExportDtype d : SCORECARD_DTYPES) {
                    Path dir = output.resolve("exports").resolve(m.name() + "-" + d.optionName());
                    for (String note : org.distillery.export.ExportFormat.GGUF.write(ck, dir, d, provenance, true)) {
                        System.err.println("note: " + dir.getFileName() + ": " + note);
                    }
                    parts.add(org.distillery.export.ExportFolder.at(dir).parts().get(0));
                }
            }
            Scorecard card = Scorecard.measure(parts, teacher.data(), parts.get(0), new Scorecard.Options(
                    Runtime.getRuntime().availableProcessors(), 64, 4, 3, python), progress);
            card.writeBesideExports();
            return card;
        }
    }

    private static String parentRunId(Path output) throws IOException {
        Path state = output.resolve(STATE_FILE);
        if (!Files.exists(state)) {
            return null;
        }
        try {
            return new ObjectMapper().readTree(state.toFile()).path("parent_run_id").asText(null);
        } catch (IOException e) {
            throw new DistilleryException(state + ": not a readable experiment state (" + e.getMessage()
                    + "); remove it to start the experiment's parent run afresh", e);
        }
    }

    private static void writeState(Path output, String parentRunId) throws IOException {
        AtomicFile.write(output.resolve(STATE_FILE), new ObjectMapper().writerWithDefaultPrettyPrinter()
                .writeValueAsBytes(Map.of("parent_run_id", parentRunId)));
    }
}
