package org.distillery.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.distillery.core.io.AtomicFile;
import org.distillery.core.spec.ExperimentSpec;
import org.distillery.core.runs.LocalRunStore;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * What an experiment found: every model's loss on the whole held-out split, and for each distilled
 * student the fraction of the gap between the scratch student and the teacher it closed,
 * {@code (scratch − student) / (scratch − teacher)}: 0 is no better than training alone, 1 is the
 * teacher's loss. Written as a Markdown table, as JSON, and as a PNG of the loss curves against
 * training tokens.
 */
record ExperimentReport(String name, double goal, List<Row> rows, Scorecard scorecard, String scorecardProblem) {
    static final String MARKDOWN = "report.md";
    static final String JSON = "report.json";
    static final String PLOT = "loss-curves.png";

    enum Role { TEACHER, SCRATCH, STUDENT }

    /**
     * One model: its size (and without the vocabulary- and position-sized matrices), its training tokens and the
     * epochs of the train split they make, its held-out loss, and (students) the gap it closed.
     */
    record Row(Role role, String name, long parameters, long nonEmbeddingParameters, long trainTokens, double epochs,
               double heldOutLoss, long heldOutTokens, double valLoss, String runId, Double gapClosed) {
        Row withGap(Double g) {
            return new Row(role, name, parameters, nonEmbeddingParameters, trainTokens, epochs, heldOutLoss,
                    heldOutTokens, valLoss, runId, g);
        }

        double perplexity() {
            return Math.exp(heldOutLoss);
        }
    }

    /**
     * The report of {@code measured}; {@code scorecard} is the teacher's and headline student's exports measured in
     * llama.cpp, or null with {@code scorecardProblem} saying why it could not be.
     */
    static ExperimentReport of(ExperimentSpec spec, List<Row> measured, Scorecard scorecard, String scorecardProblem) {
        double teacher = measured.stream().filter(r -> r.role() == Role.TEACHER).findFirst().orElseThrow().heldOutLoss();
        double scratch = measured.stream().filter(r -> r.role() == Role.SCRATCH).findFirst().orElseThrow().heldOutLoss();
        List<Row> rows = new ArrayList<>();
        for (Row r : measured) {
            double g = gapClosed(scratch, r.heldOutLoss(), teacher);
            rows.add(r.role() == Role.STUDENT ? r.withGap(Double.isNaN(g) ? null : g) : r);
        }
        return new ExperimentReport(spec.name(), spec.goal(), rows, scorecard, scorecardProblem);
    }

    /** {@code (scratch − student) / (scratch − teacher)}; NaN when the teacher is no better than the scratch student. */
    static double gapClosed(double scratch, double student, double teacher) {
        return scratch > teacher ? (scratch - student) / (scratch - teacher) : Double.NaN;
    }

    /** The headline student: the first distilled one. */
    Row headline() {
        return rows.stream().filter(r -> r.role() == Role.STUDENT).findFirst().orElseThrow();
    }

    boolean goalMet() {
        Double g = headline().gapClosed();
        return g != null && g >= goal;
    }

    String table() {
        StringBuilder s = new StringBuilder();
        s.append("| run | role | parameters (non-embedding) | training tokens | epochs | held-out loss | perplexity"
                + " | gap closed |\n");
        s.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (Row r : rows) {
            s.append(String.format(Locale.ROOT, "| %s | %s | %,d (%,d) | %,d | %.2f | %.4f | %.2f | %s |%n", r.name(),
                    r.role().name().toLowerCase(Locale.ROOT), r.parameters(), r.nonEmbeddingParameters(),
                    r.trainTokens(), r.epochs(), r.heldOutLoss(), r.perplexity(),
                    r.gapClosed() == null ? "" : String.format(Locale.ROOT, "%.2f", r.gapClosed())));
        }
        Row h = headline();
        s.append(String.format(Locale.ROOT, "%nThe distilled student %s closed %.0f%% of the gap between the scratch"
                + " student and the teacher (goal %.0f%%: %s), on %,d held-out tokens.%n", h.name(),
                100 * (h.gapClosed() == null ? Double.NaN : h.gapClosed()), 100 * goal, goalMet() ? "met" : "not met",
                h.heldOutTokens()));
        return s.toString();
    }

    /** The serving section: the scorecard's table, or why there is none. */
    String serving() {
        if (scorecard == null) {
            return "## Serving cost\n\nNo scorecard: " + scorecardProblem + "\n";
        }
        return "## Serving cost\n\nThe teacher and the headline student exported as GGUF and run by llama.cpp. "
                + scorecard.table() + "\n![held-out loss against serving cost](" + Scorecard.PLOT_FILE + ")\n";
    }

    /** Writes the report's files into {@code dir} (with the scorecard's, when there is one); returns them. */
    List<Path> write(Path dir, Map<String, List<LocalRunStore.Metric>> curves, Map<String, Long> tokensPerStep)
            throws IOException {
        List<Path> files = new ArrayList<>();
        if (scorecard != null) {
            files.addAll(scorecard.write(dir));
        }
        Path md = dir.resolve(MARKDOWN);
        AtomicFile.write(md, ("# Experiment " + name + "\n\n" + table() + "\n![loss curves](" + PLOT + ")\n\n"
                + serving()).getBytes(StandardCharsets.UTF_8));
        Path json = dir.resolve(JSON);
        Map<String, Object> doc = new java.util.LinkedHashMap<>();
        doc.put("name", name);
        doc.put("goal", goal);
        doc.put("goal_met", goalMet());
        doc.put("rows", rows);
        doc.put("scorecard", scorecard);
        doc.put("scorecard_problem", scorecardProblem);
        AtomicFile.write(json, new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .writerWithDefaultPrettyPrinter().writeValueAsBytes(doc));
        Path png = dir.resolve(PLOT);
        JFreeChart chart = chart(curves, tokensPerStep);
        AtomicFile.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 960, 560));
        files.addAll(List.of(md, json, png));
        return files;
    }

    /** Training cross-entropy (thin) and validation loss (with points) of every run against the tokens it had seen. */
    private JFreeChart chart(Map<String, List<LocalRunStore.Metric>> curves, Map<String, Long> tokensPerStep) {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        List<Boolean> isVal = new ArrayList<>();
        for (Row r : rows) {
            long perStep = tokensPerStep.get(r.name());
            List<LocalRunStore.Metric> metrics = curves.getOrDefault(r.name(), List.of());
            // A distill run's train/loss mixes in the divergence; its cross-entropy compares with the others.
            String train = metrics.stream().anyMatch(m -> m.key().equals("train/ce")) ? "train/ce" : "train/loss";
            for (String key : List.of(train, "val/loss")) {
                XYSeries s = new XYSeries(r.name() + (key.equals("val/loss") ? " val" : " train CE"));
                for (LocalRunStore.Metric m : metrics) {
                    if (m.key().equals(key)) {
                        s.addOrUpdate((double) m.step() * perStep, m.value());
                    }
                }
                data.addSeries(s);
                isVal.add(key.startsWith("val"));
            }
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Experiment " + name + ": loss against training tokens",
                "training tokens", "cross-entropy (nats per token)", data, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer();
        Color[] colors = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd),
            new Color(0xff7f0e)};
        for (int i = 0; i < isVal.size(); i++) {
            Color c = colors[(i / 2) % colors.length];
            boolean val = isVal.get(i);
            renderer.setSeriesPaint(i, val ? c : new Color(c.getRed(), c.getGreen(), c.getBlue(), 90));
            renderer.setSeriesStroke(i, new BasicStroke(val ? 2.2f : 1.0f));
            renderer.setSeriesShapesVisible(i, val);
        }
        plot.setRenderer(renderer);
        org.jfree.chart.axis.NumberAxis y = (org.jfree.chart.axis.NumberAxis) plot.getRangeAxis();
        y.setAutoRangeIncludesZero(false);
        return chart;
    }
}
