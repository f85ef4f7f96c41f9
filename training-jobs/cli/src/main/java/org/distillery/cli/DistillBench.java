package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.model.AdamW;
import org.distillery.model.DistillationLoss;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.distill.DistillJob;
import org.distillery.model.distill.HiddenStateLoss;
import org.distillery.model.distill.TeacherLogitWindows;
import org.distillery.model.distill.TeacherScorer;
import org.distillery.model.train.TokenWindows;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * What distillation costs a student's training, in one run on the same token windows: plain training
 * of the student, distillation against a live teacher, and distillation from stored top-k teacher
 * logits (read from disk each step, as the distill job does); plus what the stored logits cost in
 * bytes per token and what scoring them costs; and the two options on top of a live teacher, a cosine
 * loss on hidden states and on-policy steps (the student samples each window after a prompt). The five modes
 * run interleaved, step by step, after the warm-up steps of all of them: none gains by running first or last.
 * PyTorch runs the same plain and live-teacher steps (its teacher has the same shape, its own random weights)
 * on the same windows, with the same warm-up.
 */
@Command(name = "distill", description = "Student steps/s: plain, live teacher, offline top-k logits, hidden-state loss, on-policy; against PyTorch.")
final class DistillBench implements Callable<Integer> {
    @Option(names = "--prep", required = true, description = "a prep output: its train shards and vocabulary")
    Path prepDir;

    @Option(names = "--steps", defaultValue = "100", description = "steps per mode")
    int steps;

    @Option(names = "--warmup", defaultValue = "25", description = "untimed first steps of every mode, all run before"
            + " any timed step")
    int warmup;

    @Option(names = "--teacher-layers", defaultValue = "4")
    int teacherLayers;

    @Option(names = "--layers", defaultValue = "2", description = "the student's blocks")
    int layers;

    @Option(names = "--top-k", defaultValue = "32")
    int topK;

    @Option(names = "--temperature", defaultValue = "2.0")
    double temperature;

    @Mixin
    GptBenchOptions gpt;

    private static final double KD_RATIO = 0.5;
    /** On-policy steps: each window's first tokens are the prompt, the student samples the rest. */
    private static final int PROMPT_TOKENS = 8;

    /** One student step's loss on batch {@code s}, its gradient added to {@code grads}. */
    @FunctionalInterface
    private interface Step {
        double run(Gpt student, int s, GptParameters grads) throws IOException;
    }

    @Override
    public Integer call() throws Exception {
        if (warmup >= steps) {
            throw new DistilleryException("--warmup (" + warmup + ") must be below --steps (" + steps + ")");
        }
        ShardManifest manifest = ShardManifest.read(prepDir);
        int vocab = manifest.tokenizer().vocabSize();
        int block = gpt.block;
        int batch = gpt.batch;
        long seed = gpt.seed;
        GptConfig teacherConfig = new GptConfig(teacherLayers, gpt.heads, gpt.embd, block, vocab, 0.0);
        GptConfig studentConfig = new GptConfig(layers, gpt.heads, gpt.embd, block, vocab, 0.0);
        Gpt teacher = new Gpt(GptParameters.initialize(teacherConfig, seed + 1));
        Path work = Files.createTempDirectory("bench-distill");
        try {
            // Score as many consecutive train windows as the steps draw, with the code the Spark job runs per task.
            long started = System.nanoTime();
            TeacherLogitsManifest logitsManifest = TeacherScorer.scoreInProcess(teacher, prepDir, work,
                    new TeacherScorer.Settings(block, topK, temperature, batch), (long) steps * batch, Distillery.version());
            double scoreSeconds = (System.nanoTime() - started) / 1e9;
            long positions = logitsManifest.windows() * block;
            long bytes = logitsManifest.shards().stream().mapToLong(TeacherLogits.Shard::bytes).sum();

            try (TeacherLogitWindows windows = TeacherLogitWindows.open(work, logitsManifest);
                 TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
                Gpt.Batch[] batches = new Gpt.Batch[steps];
                for (int s = 0; s < steps; s++) {
                    batches[s] = windows.randomBatch(seed, s, 0, batch).batch();
                }
                DistillationLoss loss = new DistillationLoss(DistillationLoss.Divergence.FORWARD_KL, 0.5, temperature,
                        KD_RATIO);
                // The distillation modes step with the distill job's own objectives, as a run would: on the windows
                // PyTorch runs on, or on those the objective draws (offline: the same scored windows, by (seed,
                // step); on-policy: the student's continuations of train windows).
                Draw same = (o, student, s) -> batches[s];
                Draw drawn = (o, student, s) -> o.batch(student, train, seed, s, 0, batch, block);
                // live teacher plus a cosine loss on the hidden states of the default layer pairs
                HiddenStateLoss hidden = new HiddenStateLoss(HiddenStateLoss.Kind.COSINE, 1.0,
                        HiddenStateLoss.uniformPairs(layers, teacherLayers), gpt.embd, gpt.embd, null);
                Map<String, Double> ms;
                try (DistillJob.TeacherObjective live = DistillJob.TeacherObjective.live(teacher, loss, null, null);
                     DistillJob.TeacherObjective offline = DistillJob.TeacherObjective.offline(teacher, loss, null,
                             windows);
                     DistillJob.TeacherObjective withHidden = DistillJob.TeacherObjective.live(teacher, loss, hidden,
                             null);
                     // every micro-batch on-policy: the student continues each window's first tokens, the teacher scores them
                     DistillJob.TeacherObjective onPolicy = DistillJob.TeacherObjective.live(teacher, loss, null,
                             DistillJob.OnPolicy.of(1.0, PROMPT_TOKENS, 1.0, loss))) {
                    ms = timeInterleaved(List.of(
                            new Runner("plain", studentConfig, (student, s, grads) ->
                                    student.lossAndGradient(batches[s], grads, 1.0, s)),
                            new Runner("live_teacher", studentConfig, step(live, same)),
                            new Runner("offline_logits", studentConfig, step(offline, drawn)),
                            new Runner("live_teacher_hidden_cosine", studentConfig, step(withHidden, same)),
                            new Runner("on_policy", studentConfig, step(onPolicy, drawn))));
                }
                double plain = ms.get("plain");
                double live = ms.get("live_teacher");
                double offline = ms.get("offline_logits");
                double withHidden = ms.get("live_teacher_hidden_cosine");
                double onPolicy = ms.get("on_policy");

                JsonNode torchPlain = gpt.runPeer(batches, gpt.peerConfig(layers, vocab, steps, warmup));
                ObjectNode kd = gpt.peerConfig(layers, vocab, steps, warmup);
                kd.putObject("teacher").put("n_layer", teacherLayers);
                kd.put("temperature", temperature).put("kd_ratio", KD_RATIO);
                JsonNode torchLive = gpt.runPeer(batches, kd);

                double tokensPerStep = (double) batch * block;
                ObjectNode f = BenchCommand.JSON.createObjectNode();
                f.put("benchmark", "distill");
                f.put("teacher_parameters", teacherConfig.parameterCount());
                f.put("student_parameters", studentConfig.parameterCount());
                f.put("tokens_per_step", tokensPerStep);
                f.put("timed_steps", steps - warmup);
                f.put("top_k", topK);
                f.put("temperature", temperature);
                ObjectNode d = f.putObject("distillery");
                d.put("kernels", teacher.engine());
                for (Map.Entry<String, Double> e : Map.of("plain", plain, "live_teacher", live, "offline_logits",
                        offline, "live_teacher_hidden_cosine", withHidden, "on_policy", onPolicy).entrySet()) {
                    d.putObject(e.getKey()).put("ms_per_step", e.getValue())
                            .put("tokens_per_s", tokensPerStep * 1000 / e.getValue());
                }
                d.put("live_over_plain_throughput", plain / live);
                d.put("offline_over_plain_throughput", plain / offline);
                d.put("offline_over_live_throughput", live / offline);
                d.put("hidden_over_live_throughput", live / withHidden);
                d.put("on_policy_over_live_throughput", live / onPolicy);
                d.put("on_policy_prompt_tokens", PROMPT_TOKENS);
                ObjectNode storage = f.putObject("teacher_logits");
                storage.put("bytes_per_token", (double) bytes / positions);
                storage.put("dense_fp32_bytes_per_token", 4.0 * vocab);
                storage.put("scored_positions", positions);
                storage.put("scoring_positions_per_s", positions / scoreSeconds);
                ObjectNode t = f.putObject("pytorch");
                t.put("torch_version", torchPlain.get("torch_version").asText());
                t.putObject("plain").put("ms_per_step", torchPlain.get("ms_per_step").asDouble());
                t.putObject("live_teacher").put("ms_per_step", torchLive.get("ms_per_step").asDouble());
                double ratio = torchLive.get("ms_per_step").asDouble() / live;
                f.put("ratio_live_distillery_over_pytorch", ratio);
                BenchCommand.write(gpt.benchDir, "distill.json", f);
                System.out.printf("bench distill: student %d-block, teacher %d-block; distillery plain %.1f, live teacher"
                                + " %.1f (%.2fx plain throughput), offline top-%d %.1f ms/step (%.2fx plain, %.2fx live);"
                                + " pytorch %s plain %.1f, live teacher %.1f ms/step; live ratio %.2fx; teacher logits"
                                + " %.0f bytes/token (dense fp32 %.0f), scored at %.0f positions/s; live + hidden cosine %.1f"
                        + " ms/step (%.2fx live), on-policy %.1f ms/step (%.2fx live)%n",
                        layers, teacherLayers, plain, live, plain / live, topK, offline, plain / offline, live / offline,
                        torchPlain.get("torch_version").asText(), torchPlain.get("ms_per_step").asDouble(),
                        torchLive.get("ms_per_step").asDouble(), ratio, (double) bytes / positions, 4.0 * vocab,
                        positions / scoreSeconds, withHidden, live / withHidden, onPolicy, live / onPolicy);
            }
            return 0;
        } finally {
            Directories.deleteRecursively(work);
        }
    }

    /** The batch of step {@code s} for a job objective. */
    @FunctionalInterface
    private interface Draw {
        Gpt.Batch batch(DistillJob.TeacherObjective objective, Gpt student, int s) throws IOException;
    }

    /** A step of a job objective on the batches {@code draw} gives. */
    private static Step step(DistillJob.TeacherObjective objective, Draw draw) {
        return (student, s, grads) -> objective.lossAndGradient(student, draw.batch(objective, student, s), grads, 1.0, s);
    }

    /** One mode under test: a fresh student stepped by {@code step} with AdamW, and the time its timed steps took. */
    private final class Runner {
        final String name;
        final Step step;
        final GptParameters params;
        final GptParameters grads;
        final Gpt student;
        final AdamW adam;
        long timedNanos;

        Runner(String name, GptConfig config, Step step) {
            this.name = name;
            this.step = step;
            this.params = GptParameters.initialize(config, gpt.seed);
            this.grads = GptParameters.zeros(config);
            this.student = new Gpt(params);
            this.adam = new AdamW(params, GptBenchOptions.BETA1, GptBenchOptions.BETA2, GptBenchOptions.EPS,
                    GptBenchOptions.WEIGHT_DECAY);
        }

        void run(int s) throws IOException {
            long t0 = System.nanoTime();
            double l = step.run(student, s, grads);
            if (!Double.isFinite(l)) {
                throw new IllegalStateException("bench mode " + name + ", step " + s + " diverged: loss " + l);
            }
            adam.step(params.flat(), grads.flat(), GptBenchOptions.LR, GptBenchOptions.CLIP);
            if (s >= warmup) {
                timedNanos += System.nanoTime() - t0;
            }
        }
    }

    /**
     * Mean ms per timed step of each mode, the modes interleaved: step s of every mode runs before step s + 1 of
     * any, each step starting at the next mode, so the JIT, the caches and the machine's noise fall on all of them
     * alike; and the untimed first {@code warmup} steps of all modes (every code path compiled) come before any
     * timed step.
     */
    private Map<String, Double> timeInterleaved(List<Runner> runners) throws IOException {
        int n = runners.size();
        for (int s = 0; s < steps; s++) {
            for (int i = 0; i < n; i++) {
                runners.get((s + i) % n).run(s);
            }
        }
        Map<String, Double> ms = new java.util.LinkedHashMap<>();
        for (Runner r : runners) {
            ms.put(r.name, r.timedNanos / 1e6 / (steps - warmup));
        }
        return ms;
    }
}
