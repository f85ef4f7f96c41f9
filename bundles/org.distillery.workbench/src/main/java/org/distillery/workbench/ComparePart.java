package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.distillery.workbench.core.runs.MetricPoint;
import org.distillery.workbench.core.runs.RunComparison;
import org.distillery.workbench.core.runs.RunRef;
import org.distillery.workbench.core.runs.RunStoreException;
import org.distillery.workbench.core.runs.SavedComparison;
import org.eclipse.core.runtime.Status;
import org.eclipse.core.runtime.jobs.Job;
import org.eclipse.e4.ui.di.UISynchronize;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.ui.basic.MPart;
import org.eclipse.e4.ui.model.application.ui.basic.MPartStack;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.graphics.Color;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableColumn;
import org.eclipse.swt.widgets.TableItem;
import org.eclipse.swtchart.Chart;
import org.eclipse.swtchart.ILineSeries;
import org.eclipse.swtchart.ISeries;
import org.eclipse.swtchart.LineStyle;

/**
 * The comparison editor, as MLflow's compare view: the runs' params in a column each (rows that differ shaded, or
 * only those), each metric's last and best value with its step, and the chosen metrics' curves overlaid against step,
 * training tokens or wall time, validation curves dashed and marked. The runs may come from different stores. What
 * it shows is kept in the part's persisted state and in File > Recent Comparisons, so it opens again as it was left.
 * The stores are read in a {@link Job}: an MLflow server may be slow.
 */
public class ComparePart {
    static final String DESCRIPTOR = "org.distillery.workbench.partdescriptor.compare";
    static final String STATE = "comparison";
    static final String MAIN_STACK = "org.distillery.workbench.stack.main";
    /** A shaded row: a param whose value differs between the runs. */
    public static final int[] DIFFERS = {255, 236, 179};

    @Inject
    UISynchronize ui;
    @Inject
    MPart part;

    private SavedComparison saved;
    private RunComparison comparison;
    private Label status;
    private Button differencesOnly;
    private Combo axis;
    private Table params;
    private Table metrics;
    private Table chosen;
    private Chart chart;
    private Color differs;
    private final List<Color> colors = new ArrayList<>();

    /** Opens {@code c} in a comparison editor, reusing the one already open for the same runs. */
    public static MPart open(EPartService parts, EModelService models, MApplication app, SavedComparison c) {
        for (MPart p : parts.getParts()) {
            if (DESCRIPTOR.equals(p.getElementId()) && p.getPersistedState().containsKey(STATE)
                    && SavedComparison.parse(p.getPersistedState().get(STATE))
                    .filter(s -> s.sameRuns(c)).isPresent()) {
                parts.showPart(p, EPartService.PartState.ACTIVATE);
                return p;
            }
        }
        MPart part = parts.createPart(DESCRIPTOR);
        part.setLabel("Compare " + c.runs().size() + " runs");
        part.setTooltip(c.title());
        part.getPersistedState().put(STATE, c.json());
        ((MPartStack) models.find(MAIN_STACK, app)).getChildren().add(part);
        parts.showPart(part, EPartService.PartState.ACTIVATE);
        RecentComparisons.remember(c);
        return part;
    }

    @PostConstruct
    public void create(Composite parent) {
        saved = SavedComparison.parse(part.getPersistedState().get(STATE)).orElseThrow();
        differs = new Color(DIFFERS[0], DIFFERS[1], DIFFERS[2]);
        Composite top = Widgets.bar(parent, 5);
        status = Widgets.status(top, "compare.status");
        status.setText("Reading " + saved.runs().size() + " runs…");
        differencesOnly = Widgets.named(new Button(top, SWT.CHECK), "compare.differences");
        differencesOnly.setText("Differences only");
        differencesOnly.setSelection(saved.differencesOnly());
        differencesOnly.addListener(SWT.Selection, e -> {
            choose();
            fillParams();
        });
        new Label(top, SWT.NONE).setText("X axis");
        axis = Widgets.named(new Combo(top, SWT.READ_ONLY), "compare.axis");
        for (RunComparison.Axis a : RunComparison.Axis.values()) {
            axis.add(a.title());
        }
        axis.select(saved.axis().ordinal());
        axis.addListener(SWT.Selection, e -> {
            choose();
            plot();
        });
        Widgets.button(top, "Refresh", "compare.refresh", this::load).setToolTipText("Read the runs again");

        SashForm rows = new SashForm(parent, SWT.VERTICAL);
        rows.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        SashForm tables = new SashForm(rows, SWT.HORIZONTAL);
        params = Widgets.table(tables, SWT.NONE, "compare.params", "Param:200");
        metrics = Widgets.table(tables, SWT.NONE, "compare.metrics", "Metric:170");
        SashForm plots = new SashForm(rows, SWT.HORIZONTAL);
        chosen = Widgets.table(plots, SWT.CHECK, "compare.chosen", "Chart:170");
        chosen.addListener(SWT.Selection, e -> {
            if (e.detail == SWT.CHECK) {
                choose();
                plot();
            }
        });
        chart = Widgets.named(new Chart(plots, SWT.NONE), "compare.chart");
        chart.getTitle().setText("");
        plots.setWeights(1, 5);
        rows.setWeights(1, 1);
        parent.addDisposeListener(e -> {
            differs.dispose();
            colors.forEach(Color::dispose);
        });
        load();
    }

    /** Reads the runs from their stores in a Job, then fills the editor. */
    void load() {
        List<RunRef> refs = saved.runs();
        Job job = Job.create("Reading " + refs.size() + " runs to compare", monitor -> {
            try {
                RunComparison c = RunRef.compare(refs);
                ui.asyncExec(() -> show(c));
            } catch (RunStoreException e) {
                ui.asyncExec(() -> {
                    if (!status.isDisposed()) {
                        status.setText(e.getMessage());
                        status.setToolTipText(e.getMessage());
                    }
                });
                return Status.error(e.getMessage(), e);
            }
            return Status.OK_STATUS;
        });
        job.setUser(false);
        job.schedule();
    }

    private void show(RunComparison c) {
        if (status.isDisposed()) {
            return;
        }
        comparison = c;
        List<String> labels = c.labels();
        while (colors.size() < labels.size()) {
            int[] rgb = RunsPart.PALETTE[colors.size() % RunsPart.PALETTE.length];
            colors.add(new Color(rgb[0], rgb[1], rgb[2]));
        }
        columns(params, "Param:200", labels, 140);
        List<String> metricColumns = new ArrayList<>();
        for (String l : labels) {
            metricColumns.add(l + ": last");
            metricColumns.add(l + ": best");
        }
        columns(metrics, "Metric:170", metricColumns, 130);
        fillParams();
        metrics.removeAll();
        for (RunComparison.MetricRow r : c.metrics()) {
            List<String> cells = new ArrayList<>();
            cells.add(r.key() + (r.lowerIsBetter() ? "" : " ↑"));
            for (RunComparison.Summary s : r.values()) {
                cells.add(s == null ? "—" : value(s.last()) + " @ " + s.lastStep());
                cells.add(s == null || s.bestStep() < 0 ? "—" : value(s.best()) + " @ " + s.bestStep());
            }
            Widgets.row(metrics, r, cells.toArray(String[]::new));
        }
        for (TableColumn col : metrics.getColumns()) {
            col.pack(); // as wide as the header or the widest value
        }
        Set<String> want = new LinkedHashSet<>(saved.metrics());
        if (want.isEmpty()) {
            c.metricNames().stream().filter(n -> n.equals("train/loss") || n.equals("val/loss")).forEach(want::add);
        }
        chosen.removeAll();
        for (String n : c.metricNames()) {
            Widgets.row(chosen, n, n).setChecked(want.contains(n));
        }
        status.setText(labels.size() + " runs: " + String.join(", ", labels));
        status.setToolTipText(saved.runs().stream().map(r -> r.location() + " " + r.runId()).reduce((a, b) -> a + "\n" + b)
                .orElse(""));
        status.getParent().layout();
        plot();
    }

    private void fillParams() {
        if (comparison == null) {
            return;
        }
        params.removeAll();
        for (RunComparison.ParamRow r : comparison.params(differencesOnly.getSelection())) {
            List<String> cells = new ArrayList<>();
            cells.add(r.key());
            r.values().forEach(v -> cells.add(v == null ? "—" : v));
            TableItem item = Widgets.row(params, r, cells.toArray(String[]::new));
            if (r.differs()) {
                item.setBackground(differs);
            }
        }
        for (TableColumn col : params.getColumns()) {
            col.pack();
        }
    }

    /** Overlays the chosen metrics of every run: a colour per run, validation curves dashed with markers. */
    private void plot() {
        if (comparison == null) {
            return;
        }
        for (ISeries<?> s : chart.getSeriesSet().getSeries()) {
            chart.getSeriesSet().deleteSeries(s.getId());
        }
        RunComparison.Axis x = RunComparison.Axis.values()[Math.max(0, axis.getSelectionIndex())];
        List<String> labels = comparison.labels();
        List<String> missing = new ArrayList<>();
        List<String> names = checkedMetrics();
        for (int i = 0; i < labels.size(); i++) {
            RunComparison.Member m = comparison.members().get(i);
            for (String name : names) {
                List<MetricPoint> points = m.history().get(name);
                if (points == null || points.isEmpty()) {
                    continue;
                }
                double[] xs = x.x(m, points);
                if (xs == null) {
                    missing.add(labels.get(i));
                    break;
                }
                ILineSeries<?> s = (ILineSeries<?>) chart.getSeriesSet().createSeries(ISeries.SeriesType.LINE,
                        i + ":" + name);
                s.setDescription(labels.get(i) + " " + name);
                s.setLineColor(colors.get(i));
                s.setLineWidth(2);
                s.setAntialias(SWT.ON);
                boolean val = RunComparison.validation(name);
                s.setLineStyle(val ? LineStyle.DASH : LineStyle.SOLID);
                s.setSymbolType(val ? ILineSeries.PlotSymbolType.CIRCLE : ILineSeries.PlotSymbolType.NONE);
                s.setSymbolColor(colors.get(i));
                s.setXSeries(xs);
                s.setYSeries(points.stream().mapToDouble(MetricPoint::value).toArray());
            }
        }
        chart.getTitle().setText(String.join(", ", names));
        chart.getAxisSet().getXAxis(0).getTitle().setText(x.title());
        chart.getAxisSet().getYAxis(0).getTitle().setText(names.size() == 1 ? names.get(0) : "");
        chart.getAxisSet().adjustRange();
        chart.redraw();
        if (!missing.isEmpty()) {
            status.setText("no " + x.title() + " for " + String.join(", ", missing)
                    + ": its params do not give the tokens a step");
        }
    }

    private List<String> checkedMetrics() {
        List<String> out = new ArrayList<>();
        for (TableItem item : chosen.getItems()) {
            if (item.getChecked()) {
                out.add((String) item.getData());
            }
        }
        return out;
    }

    /** Keeps what the researcher chose in the part and in File > Recent Comparisons. */
    private void choose() {
        saved = new SavedComparison(saved.runs(), comparison != null ? comparison.labels() : saved.labels(),
                comparison != null ? checkedMetrics() : saved.metrics(),
                RunComparison.Axis.values()[Math.max(0, axis.getSelectionIndex())], differencesOnly.getSelection());
        part.getPersistedState().put(STATE, saved.json());
        RecentComparisons.remember(saved);
    }

    private static void columns(Table t, String first, List<String> titles, int width) {
        for (TableColumn c : t.getColumns()) {
            c.dispose();
        }
        Widgets.column(t, first);
        for (String title : titles) {
            Widgets.column(t, title + ":" + width + "r");
        }
    }

    private static String value(double v) {
        return Math.abs(v) >= 1e5 || (v != 0 && Math.abs(v) < 1e-3) ? String.format(Locale.ROOT, "%.4g", v)
                : String.format(Locale.ROOT, "%.4f", v);
    }
}
