package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import org.distillery.workbench.core.engine.EngineSettings;
import org.distillery.workbench.core.engine.JobProgress;
import org.distillery.workbench.core.runs.LocalRuns;
import org.distillery.workbench.core.runs.MlflowRunStore;
import org.distillery.workbench.core.runs.RunComparison;
import org.distillery.workbench.core.runs.RunInfo;
import org.distillery.workbench.core.runs.RunRef;
import org.distillery.workbench.core.runs.RunStore;
import org.distillery.workbench.core.runs.RunStoreException;
import org.distillery.workbench.core.runs.RunStoreWatch;
import org.distillery.workbench.core.runs.SavedComparison;
import org.distillery.workbench.core.runs.TickedRuns;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.di.UIEventTopic;
import org.eclipse.e4.ui.di.UISynchronize;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.ui.basic.MPart;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.graphics.Color;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;
import org.eclipse.swtchart.Chart;
import org.eclipse.swtchart.ILineSeries;
import org.eclipse.swtchart.ISeries;

/**
 * Tracked runs from the local run store or the MLflow server: tick runs to overlay their curves of one
 * metric in a chart (teacher, scratch student and KD student side by side), see a run's params. While
 * a job runs, its run's curve grows from the job's own metric events, ahead of the store. The store is
 * read again when a job announces its run or ends ({@link JobTopics}), when the local store changes on
 * disk ({@link RunStoreWatch}: runs started elsewhere, by the CLI or a cluster), and on Refresh.
 */
public class RunsPart {
    static final int[][] PALETTE = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
        {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

    @Inject
    LaunchedJobs jobs;
    @Inject
    WorkbenchSettings settings;
    @Inject
    UISynchronize ui;
    @Inject
    MApplication app;
    @Inject
    EPartService parts;
    @Inject
    EModelService models;
    /** Its persisted state keeps the ticks ({@link TickedRuns}), the selected run and the metric across restarts. */
    @Inject
    MPart part;
    private static final String TICKS = "ticks";
    private static final String METRIC = "metric";

    /** The context key of the ticked runs as a comparison ({@link CompareHandler}); null when fewer than two. */
    static final String TICKED = "org.distillery.workbench.runs.ticked";

    private Combo source;
    private Table runs;
    private Combo metric;
    private Chart chart;
    private Table params;
    private Label status;
    private final List<RunInfo> shownRuns = new ArrayList<>();
    private final Set<String> checked = new HashSet<>();
    /** Where each ticked run is, and its label: ticks survive switching stores, so a comparison may mix them. */
    private final Map<String, RunRef> tickedRefs = new java.util.LinkedHashMap<>();
    private final Map<String, String> tickedLabels = new HashMap<>();
    private org.eclipse.swt.widgets.Button compare;
    private KeptSelection selection;
    private final Set<String> autoChecked = new HashSet<>();
    private final Map<String, Color> colors = new HashMap<>();
    /** The runs as last read, and the ticked ones' curves as stored. */
    private List<RunInfo> listed = List.of();
    private final Map<String, Map<String, SortedMap<Long, Double>>> stored = new HashMap<>();
    private RunStoreWatch watch;
    private UiCoalesced storeChanged;

    @PostConstruct
    public void create(Composite parent) {
        Composite top = Widgets.bar(parent, 7);
        new Label(top, SWT.NONE).setText("Runs from");
        source = Widgets.named(new Combo(top, SWT.READ_ONLY), "runs.source");
        source.addListener(SWT.Selection, e -> reload());
        new Label(top, SWT.NONE).setText("Metric");
        metric = Widgets.named(new Combo(top, SWT.READ_ONLY), "runs.metric");
        metric.setLayoutData(new GridData(180, SWT.DEFAULT));
        metric.addListener(SWT.Selection, e -> {
            part.getPersistedState().put(METRIC, metric.getText());
            draw();
        });
        compare = Widgets.button(top, "Compare", "runs.compare", this::compare);
        compare.setToolTipText("Compare the ticked runs side by side (" + CompareHandler.KEYS + ")");
        compare.setEnabled(false);
        Widgets.button(top, "Refresh", "runs.refresh", this::reload)
                .setToolTipText("Read the runs again (an MLflow server's runs change without telling)");
        status = Widgets.status(top, "runs.status");

        SashForm sash = new SashForm(parent, SWT.HORIZONTAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        SashForm left = new SashForm(sash, SWT.VERTICAL);
        runs = Widgets.table(left, SWT.CHECK, "runs.table", "Run:200", "Experiment:110", "Status:80");
        selection = new KeptSelection(part, runs, "selected", r -> ((RunInfo) r).id());
        runs.addListener(SWT.Selection, e -> {
            if (e.detail == SWT.CHECK) {
                RunInfo r = (RunInfo) e.item.getData();
                if (((TableItem) e.item).getChecked()) {
                    tick(store(), r);
                } else {
                    checked.remove(r.id());
                    tickedRefs.remove(r.id());
                }
                publishTicked();
                reload();
            } else {
                showParams();
            }
        });
        params = Widgets.table(left, SWT.NONE, "runs.params", "Param:190", "Value:200");
        left.setWeights(3, 2);
        chart = Widgets.named(new Chart(sash, SWT.NONE), "runs.chart");
        chart.getTitle().setText("Tick runs to plot them");
        chart.getAxisSet().getXAxis(0).getTitle().setText("step");
        chart.getAxisSet().getYAxis(0).getTitle().setText("");
        sash.setWeights(2, 3);
        parent.addDisposeListener(e -> {
            colors.values().forEach(Color::dispose);
            if (watch != null) {
                watch.close();
            }
        });
        TickedRuns.read(part.getPersistedState().get(TICKS)).forEach((ref, label) -> {
            checked.add(ref.runId());
            tickedRefs.put(ref.runId(), ref);
            tickedLabels.put(ref.runId(), label);
        });
        publishTicked();
        storeChanged = new UiCoalesced(ui, () -> {
            if (!chart.isDisposed()) {
                reload();
            }
        });
        sources();
        reload();
    }

    @Inject
    @Optional
    void jobAnnouncedItsRun(@UIEventTopic(JobTopics.RUN) DistilleryJob job) {
        reload();
    }

    @Inject
    @Optional
    void jobStartedOrEnded(@UIEventTopic(JobTopics.STATE) DistilleryJob job) {
        reload();
    }

    /** A running job's curves grow from its own events; the store is not read for them. */
    @Inject
    @Optional
    void jobMetrics(@UIEventTopic(JobTopics.METRIC) DistilleryJob job) {
        if (chart != null && !chart.isDisposed()) {
            draw();
        }
    }

    /** Whether {@code path} (in the store) is the metrics a job launched here is appending, while it runs. */
    private boolean grownByAJobHere(Path path) {
        if (path.getNameCount() != 3 || !path.getFileName().toString().equals("metrics.jsonl")) {
            return false;
        }
        JobProgress job = jobs.forRun(path.getName(1).toString());
        return job != null && !job.ended();
    }

    /** Watches the local store the view shows (none for MLflow); a change on disk reads it again. */
    private void watch(Path root) {
        if (watch != null && watch.root().equals(root)) {
            return;
        }
        if (watch != null) {
            watch.close();
            watch = null;
        }
        if (root == null) {
            return;
        }
        try {
            watch = RunStoreWatch.start(root, paths -> {
                if (paths.stream().allMatch(this::grownByAJobHere)) {
                    return; // the job's own metric events draw that curve, ahead of the store
                }
                storeChanged.request(); // one reload waiting at most; it reads the latest
            });
        } catch (IOException e) {
            status.setText(root + ": cannot watch for new runs (" + e.getMessage() + "); use Refresh");
        }
    }

    /** The ticked runs as a comparison, for the Compare button and command; null under two. */
    SavedComparison ticked() {
        if (tickedRefs.size() < 2) {
            return null;
        }
        List<String> labels = tickedRefs.keySet().stream().map(tickedLabels::get).toList();
        String m = metric.getText();
        // the metric on show, with its validation counterpart: how far apart the curves of train and val run
        List<String> shown = m.isEmpty() ? List.of() : m.startsWith("train/") ? List.of(m, "val/" + m.substring(6))
                : List.of(m);
        return new SavedComparison(List.copyOf(tickedRefs.values()), labels, shown, RunComparison.Axis.STEP, false);
    }

    private void publishTicked() {
        Map<RunRef, String> ticks = new java.util.LinkedHashMap<>();
        tickedRefs.forEach((id, ref) -> ticks.put(ref, tickedLabels.get(id)));
        part.getPersistedState().put(TICKS, TickedRuns.write(ticks));
        compare.setEnabled(tickedRefs.size() >= 2);
        app.getContext().set(TICKED, ticked());
    }

    /** Ticks and selects the run {@code runId} names (a store id, or the id its job announced), reading the store. */
    public void reveal(String runId) {
        TableItem item = itemOf(runId);
        if (item == null) { // a run the view has not listed yet
            reload();
            item = itemOf(runId);
        }
        if (item == null) {
            status.setText("run " + runId + " is not in " + store().location());
            return;
        }
        tick(store(), (RunInfo) item.getData());
        runs.setSelection(item);
        selection.keep();
        publishTicked();
        reload(); // reads the newly ticked run's curves
        showParams();
    }

    private TableItem itemOf(String runId) {
        for (TableItem item : runs.getItems()) {
            if (((RunInfo) item.getData()).is(runId)) {
                return item;
            }
        }
        return null;
    }

    /** Ticks {@code r}, remembering its store and label, so that a comparison can find it after the store changes. */
    private void tick(RunStore store, RunInfo r) {
        checked.add(r.id());
        tickedRefs.put(r.id(), RunRef.of(store, r));
        tickedLabels.put(r.id(), r.experiment() + " / " + r.name());
    }

    /** Opens the comparison editor on the ticked runs. */
    void compare() {
        SavedComparison c = ticked();
        if (c != null) {
            ComparePart.open(parts, models, app, c);
        }
    }

    private void sources() {
        EngineSettings s = settings.get();
        List<String> items = new ArrayList<>();
        if (!s.trackingUri().isEmpty()) {
            items.add("MLflow " + s.trackingUri());
        }
        items.add("Local run store " + s.workDir().resolve("runs"));
        if (!List.of(source.getItems()).equals(items)) {
            source.setItems(items.toArray(String[]::new));
            source.select(0);
        }
    }

    private RunStore store() {
        EngineSettings s = settings.get();
        String item = source.getText();
        return item.startsWith("MLflow ") ? new MlflowRunStore(s.trackingUri())
                : new LocalRuns(s.workDir().resolve("runs"));
    }

    /** Reads the runs and the ticked runs' curves again, and redraws. */
    void reload() {
        sources();
        RunStore store = store();
        watch(store instanceof LocalRuns ? settings.get().workDir().resolve("runs") : null);
        List<RunInfo> list;
        try {
            list = store.runs();
        } catch (RunStoreException e) {
            status.setText(e.getMessage());
            status.setToolTipText(e.getMessage());
            return;
        }
        for (DistilleryJob j : jobs.all()) { // a job's new run is ticked once, to watch it live
            String id = j.progress().runId();
            if (id != null && autoChecked.add(id)) {
                list.stream().filter(r -> r.is(id)).forEach(r -> tick(store, r));
                publishTicked();
            }
        }
        updateTable(list);
        listed = list;
        stored.clear();
        for (RunInfo r : list) {
            if (checked.contains(r.id())) {
                try {
                    stored.put(r.id(), store.metrics(r));
                } catch (RunStoreException e) {
                    status.setText(e.getMessage());
                    status.setToolTipText(e.getMessage());
                    return;
                }
            }
        }
        draw();
    }

    /** Plots the ticked runs' stored curves with what their running jobs reported since. */
    private void draw() {
        Map<RunInfo, Map<String, SortedMap<Long, Double>>> curves = new java.util.LinkedHashMap<>();
        Set<String> names = new TreeSet<>();
        for (RunInfo r : listed) {
            if (!checked.contains(r.id()) || !stored.containsKey(r.id())) {
                continue;
            }
            Map<String, SortedMap<Long, Double>> m = new TreeMap<>(stored.get(r.id()));
            JobProgress live = jobs.forRun(r.localId() != null ? r.localId() : r.id());
            if (live != null) {
                live.metrics().forEach((k, v) -> m.merge(k, v, (kept, fresh) -> {
                    SortedMap<Long, Double> both = new TreeMap<>(kept);
                    both.putAll(fresh);
                    return both;
                }));
            }
            curves.put(r, m);
            names.addAll(m.keySet());
        }
        updateMetrics(names);
        plot(curves, metric.getText());
        status.setText(listed.size() + " runs in " + store().location() + (jobs.anyRunning() ? " (live)" : ""));
        status.getParent().layout();
    }

    private void updateTable(List<RunInfo> list) {
        boolean same = list.size() == shownRuns.size();
        for (int i = 0; same && i < list.size(); i++) {
            same = list.get(i).equals(shownRuns.get(i));
        }
        if (!same) {
            String selected = selection.wanted();
            runs.removeAll();
            for (RunInfo r : list) {
                Widgets.row(runs, r, r.name(), r.experiment(), r.status());
            }
            if (selection.select(selected) && params.getItemCount() == 0) {
                showParams(); // the run selected when the workbench was last closed
            }
            shownRuns.clear();
            shownRuns.addAll(list);
        }
        for (TableItem item : runs.getItems()) {
            item.setChecked(checked.contains(((RunInfo) item.getData()).id()));
        }
    }

    private void updateMetrics(Set<String> names) {
        String current = metric.getText().isEmpty() ? part.getPersistedState().getOrDefault(METRIC, "")
                : metric.getText();
        if (!List.of(metric.getItems()).equals(List.copyOf(names))) {
            metric.setItems(names.toArray(String[]::new));
        }
        if (names.contains(current)) {
            metric.setText(current);
        } else if (!names.isEmpty()) {
            metric.setText(names.contains("train/loss") ? "train/loss" : names.iterator().next());
        }
    }

    private void plot(Map<RunInfo, Map<String, SortedMap<Long, Double>>> curves, String name) {
        Set<String> wanted = new HashSet<>();
        int index = 0;
        for (var e : curves.entrySet()) {
            SortedMap<Long, Double> curve = e.getValue().get(name);
            RunInfo r = e.getKey();
            index++;
            if (curve == null || curve.isEmpty()) {
                continue;
            }
            wanted.add(r.id());
            ILineSeries<?> series = (ILineSeries<?>) chart.getSeriesSet().getSeries(r.id());
            if (series == null) {
                series = (ILineSeries<?>) chart.getSeriesSet().createSeries(ISeries.SeriesType.LINE, r.id());
                series.setSymbolType(ILineSeries.PlotSymbolType.NONE);
                series.setLineWidth(2);
                series.setAntialias(SWT.ON);
            }
            series.setDescription(r.experiment() + " / " + r.name());
            series.setLineColor(color(r.id(), index - 1));
            series.setXSeries(curve.keySet().stream().mapToDouble(Long::doubleValue).toArray());
            series.setYSeries(curve.values().stream().mapToDouble(Double::doubleValue).toArray());
        }
        for (ISeries<?> s : chart.getSeriesSet().getSeries()) {
            if (!wanted.contains(s.getId())) {
                chart.getSeriesSet().deleteSeries(s.getId());
            }
        }
        chart.getTitle().setText(wanted.isEmpty() ? "Tick runs to plot them" : name);
        chart.getAxisSet().getYAxis(0).getTitle().setText(wanted.isEmpty() ? "" : name);
        chart.getAxisSet().adjustRange();
        chart.redraw();
    }

    private Color color(String id, int index) {
        return colors.computeIfAbsent(id, k -> {
            int[] c = PALETTE[index % PALETTE.length];
            return new Color(c[0], c[1], c[2]);
        });
    }

    private void showParams() {
        params.removeAll();
        if (runs.getSelectionCount() != 1) {
            return;
        }
        RunInfo r = (RunInfo) runs.getSelection()[0].getData();
        try {
            store().params(r).forEach((k, v) -> new TableItem(params, SWT.NONE).setText(new String[] {k, v}));
        } catch (RunStoreException e) {
            status.setText(e.getMessage());
        }
    }
}
