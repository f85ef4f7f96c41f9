package org.distillery.cli;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.io.ByteSize;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.export.ExportFolder;
import org.distillery.export.ExportProvenance;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.train.TokenWindows;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.annotations.XYTextAnnotation;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedRangeXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * What each export buys a serving team: its quality (held-out loss on a prep's validation split) against its cost
 * (bytes, tokens per second, CPU-seconds per million generated tokens, peak memory), every figure measured by the
 * runtime that serves that format (llama.cpp, ONNX Runtime, transformers) on this machine, over the same windows
 * and with the same threads. Quality retained is the share of the teacher's gain over a uniform guess
 * ({@code ln V - loss}) that an export keeps.
 */
record Scorecard(String prep, String tokenizerSha256, int threads, int window, int windows, long targets, int prompt,
                 int generate, int rounds, String reference, List<Row> rows) {
    static final String FORMAT = "distillery.scorecard/1";
    static final String JSON_FILE = "scorecard.json";
    static final String TABLE_FILE = "scorecard.md";
    static final String PLOT_FILE = "scorecard.png";
    static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** One export's line. {@code role} is teacher (the reference's run) or student. */
    record Row(String label, String role, String path, String format, String dtype, long bytes, long parameters,
               long nonEmbeddingParameters, String runtime, double loss, double perplexity, double qualityRetained,
               List<Speed> speeds, long peakRssBytes, long baselineRssBytes, String runId) {
        Speed atBatch(int b) {
            return speeds.stream().filter(s -> s.batch() == b).findFirst().orElse(null);
        }
    }

    /** Throughput at one batch size: prompt processing, then greedy generation one token a step. */
    record Speed(int batch, double promptTokensPerS, double generateTokensPerS, double cpuSecondsPerMillionTokens) {
    }

    /** How to measure: threads, how many validation windows, the larger batch, timed rounds, the Python. */
    record Options(int threads, int windows, int batch, int rounds, String python) {
    }

    /**
     * Measures {@code parts} on {@code prep}'s validation split. {@code reference} is the teacher's fp32 export that
     * quality is retained against (null: the fp32 export with the most parameters).
     */
    static Scorecard measure(List<ExportFolder.Part> parts, Path prep, ExportFolder.Part reference, Options o,
                             ProgressListener progress) throws IOException, InterruptedException {
        ShardManifest manifest = ShardManifest.read(prep);
        List<GptConfig> models = new ArrayList<>();
        for (ExportFolder.Part p : parts) {
            models.add(check(p, manifest, prep));
        }
        int window = models.stream().mapToInt(GptConfig::blockSize).min().orElseThrow();
        List<int[]> windows;
        try (TokenWindows val = TokenWindows.open(prep, manifest, "val")) {
            windows = windows(val, window, o.windows());
        }
        if (windows.isEmpty()) {
            throw new DistilleryException(prep + ": no validation shard holds " + (window + 1) + " tokens (the"
                    + " smallest context among the exports, plus one)");
        }
        long targets = (long) windows.size() * window;
        int prompt = window / 2;
        int generate = window - prompt;
        List<JsonNode> measured = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            ExportFolder.Part p = parts.get(i);
            progress.on(ProgressEvent.stage("scorecard", p.dir().toString(), i + 1, parts.size()));
            Path request = Files.createTempFile("scorecard", ".json");
            try {
                Map<String, Object> req = Map.of("format", p.name(), "path",
                        (p.format() == org.distillery.export.ExportFormat.HF ? p.dir() : p.file()).toString(),
                        "windows", windows, "threads", o.threads(), "batches", List.of(1, o.batch()), "prompt", prompt,
                        "generate", generate, "rounds", o.rounds(), "eval_batch", 8);
                JSON.writeValue(request.toFile(), req);
                measured.add(ServingReader.run("scorecard_runtime.py", o.python(), List.of(request.toString()),
                        p.name(), p.file()));
            } finally {
                Files.deleteIfExists(request);
            }
        }
        int ref = reference != null ? parts.indexOf(reference) : -1;
        if (ref < 0) {
            Comparator<Integer> byFp32ThenSize = Comparator.<Integer>comparingInt(i -> dtype(parts.get(i))
                    .equals("fp32") ? 1 : 0).thenComparingLong(i -> models.get(i).parameterCount());
            ref = java.util.stream.IntStream.range(0, parts.size()).boxed().max(byFp32ThenSize).orElseThrow();
        }
        double uniform = Math.log(manifest.tokenizer().vocabSize());
        double refLoss = measured.get(ref).get("loss").asDouble();
        String refRun = parts.get(ref).provenance().get(ExportProvenance.PREFIX + "run_id");
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            ExportFolder.Part p = parts.get(i);
            JsonNode m = measured.get(i);
            String run = p.provenance().get(ExportProvenance.PREFIX + "run_id");
            List<Speed> speeds = new ArrayList<>();
            for (JsonNode s : m.get("speeds")) {
                speeds.add(new Speed(s.get("batch").asInt(), s.get("prompt_tokens_per_s").asDouble(),
                        s.get("generate_tokens_per_s").asDouble(), s.get("cpu_s_per_million_tokens").asDouble()));
            }
            double loss = m.get("loss").asDouble();
            rows.add(new Row(label(p), i == ref || (refRun != null && refRun.equals(run)) ? "teacher" : "student",
                    p.dir().toString(), p.name(), dtype(p), p.bytes(), models.get(i).parameterCount(),
                    models.get(i).nonEmbeddingParameterCount(), m.get("runtime").asText(), loss, Math.exp(loss),
                    (uniform - loss) / (uniform - refLoss), speeds, m.get("peak_rss_bytes").asLong(),
                    m.get("baseline_rss_bytes").asLong(), run));
        }
        return new Scorecard(prep.toAbsolutePath().toString(), manifest.tokenizer().sha256(), o.threads(), window,
                windows.size(), targets, prompt, generate, o.rounds(), label(parts.get(ref)), List.copyOf(rows));
    }

    /**
     * At most {@code count} windows of {@code window + 1} tokens, spread evenly over the split's consecutive windows
     * (see {@link TokenWindows#consecutiveWindows}): the same ones for every export.
     */
    static List<int[]> windows(TokenWindows val, int window, int count) {
        long total = val.consecutiveWindows(window);
        int n = (int) Math.min(count, total);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Gpt.Batch b = val.consecutiveBatch(total * i / n, 1, window);
            int[] w = java.util.Arrays.copyOf(b.inputs(), window + 1);
            w[window] = b.targets()[window - 1];
            out.add(w);
        }
        return out;
    }

    /** The export's model, after checking it reads the prep's tokens: its tokenizer's SHA-256 and vocabulary. */
    private static GptConfig check(ExportFolder.Part p, ShardManifest manifest, Path prep) {
        if (p.problem() != null) {
            throw new DistilleryException(p.file() + ": damaged: " + p.problem());
        }
        GptConfig model = ExportProvenance.model(p.provenance());
        if (model == null) {
            throw new DistilleryException(p.file() + ": carries no distillery.model.* provenance (not written by"
                    + " Distillery export): the scorecard needs its shape and tokenizer");
        }
        String mine = p.provenance().get(ExportProvenance.PREFIX + "tokenizer_sha256");
        String theirs = manifest.tokenizer().sha256();
        if (mine == null || !mine.equals(theirs)) {
            throw new DistilleryException(p.file() + ": its tokenizer (SHA-256 " + (mine == null ? "not recorded"
                    : mine) + ") is not the one " + prep.resolve(ShardManifest.FILE_NAME) + " was tokenized with"
                    + " (SHA-256 " + theirs + "): its loss on these tokens would mean nothing");
        }
        if (model.vocabSize() < manifest.tokenizer().vocabSize()) {
            throw new DistilleryException(p.file() + ": a vocabulary of " + model.vocabSize() + " tokens, but the prep"
                    + "'s tokenizer has " + manifest.tokenizer().vocabSize());
        }
        return model;
    }

    static String dtype(ExportFolder.Part p) {
        return p.provenance().getOrDefault(ExportProvenance.PREFIX + "dtype", "fp32");
    }

    /** The export folder's name, with the format when the folder is one of an export's format subfolders. */
    private static String label(ExportFolder.Part p) {
        String name = p.dir().getFileName().toString();
        if (name.equals(p.name()) && p.dir().getParent() != null) {
            name = p.dir().getParent().getFileName() + "/" + name;
        }
        return name.contains(dtype(p)) ? name : name + " " + dtype(p);
    }

    /** The table: one line per export. */
    String table() {
        int b = rows.isEmpty() || rows.get(0).speeds().size() < 2 ? 1 : rows.get(0).speeds().get(1).batch();
        StringBuilder t = new StringBuilder();
        t.append(String.format("Held-out loss over %d windows of %d tokens of %s's validation split; speeds with %d"
                + " threads: %d prompt tokens, then %d generated one step at a time, at batch 1 and %d. Quality retained"
                + " against %s.%n%n", windows, window, Path.of(prep).getFileName(), threads, prompt, generate, b,
                reference));
        t.append("| export | role | format | runtime | size | parameters (non-embedding) | held-out loss | perplexity"
                + " | quality retained | prompt tok/s (1 / " + b + ") | generate tok/s (1 / " + b + ") | CPU-s per M"
                + " tokens (1) | peak memory (above the runtime's own) |\n");
        t.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            Speed one = r.atBatch(1);
            Speed many = r.atBatch(b);
            t.append(String.format("| %s | %s | %s %s | %s | %s | %,d (%,d) | %.4f | %.2f | %.1f%% | %,.0f / %,.0f"
                    + " | %,.0f / %,.0f | %,.0f | %s (%s) |%n", r.label(), r.role(), r.format(), r.dtype(),
                    r.runtime().replaceAll(" \\(.*", ""), ByteSize.human(r.bytes()), r.parameters(),
                    r.nonEmbeddingParameters(), r.loss(), r.perplexity(), 100 * r.qualityRetained(),
                    one.promptTokensPerS(), many.promptTokensPerS(), one.generateTokensPerS(),
                    many.generateTokensPerS(), one.cpuSecondsPerMillionTokens(), ByteSize.human(r.peakRssBytes()),
                    ByteSize.human(Math.max(0, r.peakRssBytes() - r.baselineRssBytes()))));
        }
        return t.toString();
    }

    /** {@code scorecard.json}, {@code scorecard.md} and {@code scorecard.png} into {@code dir}; returns them. */
    List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path json = dir.resolve(JSON_FILE);
        AtomicFile.write(json, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(Map.of("format", FORMAT,
                "scorecard", this)));
        Path md = dir.resolve(TABLE_FILE);
        AtomicFile.write(md, ("# Scorecard\n\n" + table() + "\n![held-out loss against cost](" + PLOT_FILE + ")\n")
                .getBytes(StandardCharsets.UTF_8));
        Path png = dir.resolve(PLOT_FILE);
        JFreeChart chart = chart();
        AtomicFile.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 1100, 520));
        return List.of(json, md, png);
    }

    /**
     * Each export's own line beside it ({@code scorecard.json} in its folder), for the exports list and the
     * workbench: the row with the conditions it was measured under.
     */
    void writeBesideExports() throws IOException {
        for (Row r : rows) {
            Scorecard one = new Scorecard(prep, tokenizerSha256, threads, window, windows, targets, prompt, generate,
                    rounds, reference, List.of(r));
            AtomicFile.write(Path.of(r.path()).resolve(JSON_FILE), JSON.writerWithDefaultPrettyPrinter()
                    .writeValueAsBytes(Map.of("format", FORMAT, "scorecard", one)));
        }
    }

    /** Held-out loss against generation tokens/s (batch 1) and against bytes, one labelled point per export. */
    private JFreeChart chart() {
        System.setProperty("java.awt.headless", "true");
        NumberAxis loss = new NumberAxis("held-out loss (nats per token)");
        loss.setAutoRangeIncludesZero(false);
        CombinedRangeXYPlot plot = new CombinedRangeXYPlot(loss);
        NumberAxis speed = new NumberAxis("generated tokens/s at batch 1, " + threads + " threads");
        NumberAxis bytes = new NumberAxis("MiB on disk");
        for (boolean bySpeed : new boolean[] {true, false}) {
            XYSeriesCollection data = new XYSeriesCollection();
            XYSeries teachers = new XYSeries("teacher", false);
            XYSeries students = new XYSeries("students", false);
            XYPlot sub = new XYPlot(data, bySpeed ? speed : bytes, null, new XYLineAndShapeRenderer(false, true));
            for (Row r : rows) {
                double x = bySpeed ? r.atBatch(1).generateTokensPerS() : r.bytes() / 1048576.0;
                (r.role().equals("teacher") ? teachers : students).add(x, r.loss());
                XYTextAnnotation a = new XYTextAnnotation(" " + r.label(), x, r.loss());
                a.setTextAnchor(TextAnchor.BOTTOM_LEFT);
                a.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 10));
                sub.addAnnotation(a);
            }
            data.addSeries(teachers);
            data.addSeries(students);
            sub.getDomainAxis().setUpperMargin(0.3); // room for the labels of the rightmost points
            java.awt.Shape dot = new java.awt.geom.Ellipse2D.Double(-4, -4, 8, 8);
            sub.getRenderer().setSeriesShape(0, new java.awt.Rectangle(-4, -4, 8, 8));
            sub.getRenderer().setSeriesShape(1, dot);
            sub.getRenderer().setSeriesPaint(0, new Color(0xd62728));
            sub.getRenderer().setSeriesPaint(1, new Color(0x1f77b4));
            sub.getRenderer().setSeriesStroke(0, new BasicStroke(2f));
            sub.setBackgroundPaint(Color.WHITE);
            sub.setDomainGridlinePaint(Color.LIGHT_GRAY);
            sub.setRangeGridlinePaint(Color.LIGHT_GRAY);
            if (!bySpeed) { // one legend for both panels
                sub.setFixedLegendItems(new org.jfree.chart.LegendItemCollection());
            }
            plot.add(sub);
        }
        return new JFreeChart("Quality against serving cost (" + rows.size() + " exports)", JFreeChart
                .DEFAULT_TITLE_FONT, plot, true);
    }
}
