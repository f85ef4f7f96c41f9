package org.distillery.workbench.uitest;

import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.distillery.workbench.CompareHandler;
import org.distillery.workbench.ComparePart;
import org.distillery.workbench.ExportsPart;
import org.distillery.workbench.LaunchHandler;
import org.distillery.workbench.LaunchedJobs;
import org.distillery.workbench.SpecEditorPart;
import org.eclipse.debug.core.DebugPlugin;
import org.eclipse.debug.core.ILaunchConfiguration;
import org.eclipse.debug.core.ILaunchManager;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.distillery.workbench.Widgets;
import org.eclipse.e4.core.commands.ECommandService;
import org.eclipse.e4.core.commands.EHandlerService;
import org.eclipse.e4.core.contexts.ContextInjectionFactory;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.di.UIEventTopic;
import org.eclipse.e4.ui.workbench.IWorkbench;
import org.eclipse.e4.ui.workbench.UIEvents;
import org.eclipse.swt.SWT;
import org.eclipse.swt.graphics.GC;
import org.eclipse.swt.graphics.Image;
import org.eclipse.swt.graphics.ImageData;
import org.eclipse.swt.graphics.ImageLoader;
import org.eclipse.swt.graphics.Rectangle;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Control;
import org.eclipse.swt.widgets.Display;
import org.eclipse.swt.widgets.Event;
import org.eclipse.swt.widgets.Shell;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;
import org.eclipse.swtchart.Chart;
import org.eclipse.swtchart.ISeries;

/**
 * Drives the real workbench as a user would, from a thread of its own (as SWTBot does): opens Run As
 * Distillery Job from the menu's command, types each spec into the dialog, presses Run, watches the Jobs
 * view until the job ends and the Runs view's chart while it runs, then saves a screenshot of the
 * window and a JSON report of what it saw, and closes the workbench. Configured by system properties:
 * {@code distillery.uitest.specs} (comma-separated), {@code distillery.uitest.report},
 * {@code distillery.uitest.screenshot}, {@code distillery.uitest.timeout} (seconds).
 */
public class UiDriver {
    @Inject
    ECommandService commands;
    @Inject
    EHandlerService handlers;
    @Inject
    org.eclipse.e4.core.contexts.IEclipseContext context; // the workbench itself joins it only once started

    private Display display;
    private final Map<String, Object> report = new LinkedHashMap<>();
    private final List<Map<String, Object>> jobs = new ArrayList<>();
    private long deadline;

    /**
     * With {@code -Ddistillery.uitest.firstpaint=true} (the cold-start benchmark), the driver only
     * reports the first paint of the workbench window on stdout ({@code distillery.firstpaint <ms of JVM
     * uptime>}); an add-on is created before the window, so it sees that paint.
     */
    @jakarta.annotation.PostConstruct
    void watchFirstPaint() {
        if (!Boolean.getBoolean("distillery.uitest.firstpaint")) {
            return;
        }
        Display d = Display.getCurrent();
        org.eclipse.swt.widgets.Listener[] once = new org.eclipse.swt.widgets.Listener[1];
        once[0] = e -> {
            if (e.widget instanceof Control c && "Distillery".equals(c.getShell().getText())) {
                d.removeFilter(SWT.Paint, once[0]);
                System.out.println("distillery.firstpaint "
                        + java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime());
                System.out.flush();
            }
        };
        d.addFilter(SWT.Paint, once[0]);
    }

    @Inject
    @Optional
    public void started(@UIEventTopic(UIEvents.UILifeCycle.APP_STARTUP_COMPLETE) org.osgi.service.event.Event e) {
        display = Display.getCurrent();
        deadline = System.nanoTime() + Long.getLong("distillery.uitest.timeout", 600) * 1_000_000_000L;
        Thread t = new Thread(this::drive, "distillery-ui-driver");
        t.setDaemon(true);
        t.start();
    }

    private void drive() {
        if (Boolean.getBoolean("distillery.uitest.firstpaint")) {
            return; // the benchmark stops the workbench itself
        }
        try {
            if (Boolean.getBoolean("distillery.uitest.restart")) {
                report.put("restored", workbenchState()); // what the workbench saved when the first session closed
                report.put("result", "ok");
                return;
            }
            report.put("jobs", jobs);
            for (String spec : System.getProperty("distillery.uitest.specs", "").split(",")) {
                if (!spec.isBlank()) {
                    runJob(spec.strip());
                }
            }
            show("org.distillery.workbench.part.runs");
            Thread.sleep(1500); // the Runs view's next refresh after the last job ended
            report.put("statusLine", ui(() -> find(table("jobs.table").getShell(), "status.jobs",
                    org.eclipse.swt.widgets.Label.class).getText()));
            report.put("tabIcons", ui(() -> tabIcons(table("jobs.table").getShell())));
            report.put("runs", ui(() -> rows(table("runs.table"))));
            report.put("chart", ui(this::chart));
            Path screenshot = Path.of(System.getProperty("distillery.uitest.screenshot"));
            report.put("screenshot", screenshot(screenshot));
            report.put("launchConfigurations", launchConfigurations());
            report.put("relaunch", relaunch("prep prep"));
            String bad = System.getProperty("distillery.uitest.badspec");
            if (bad != null) {
                report.put("editor", editor(Path.of(bad), screenshot.resolveSibling("workbench-spec.png")));
                report.put("errorLog", errorLog(Path.of(bad), screenshot.resolveSibling("workbench-errorlog.png")));
            }
            report.put("datasets", datasets());
            String checkpoint = System.getProperty("distillery.uitest.checkpoint");
            if (checkpoint != null) {
                report.put("exports", exports(Path.of(checkpoint), screenshot.resolveSibling("workbench-exports.png")));
            }
            String cancelSpec = System.getProperty("distillery.uitest.cancelspec");
            if (cancelSpec != null) {
                report.put("cancel", cancel(cancelSpec));
            }
            String ranksSpec = System.getProperty("distillery.uitest.ranksspec");
            if (ranksSpec != null) {
                report.put("ranks", ranks(ranksSpec));
            }
            String cluster = System.getProperty("distillery.uitest.cluster");
            if (cluster != null) {
                report.put("cluster", cluster(cluster, System.getProperty("distillery.uitest.clusterspec")));
                String longSpec = System.getProperty("distillery.uitest.clusterlongspec");
                if (longSpec != null) {
                    report.put("clusterCancel", clusterCancel(cluster.substring(0, cluster.indexOf('=')), longSpec));
                }
            }
            String compareRuns = System.getProperty("distillery.uitest.compare");
            if (compareRuns != null) {
                report.put("compare", compare(List.of(compareRuns.split(",")),
                        screenshot.resolveSibling("workbench-compare.png")));
            }
            String experimentSpec = System.getProperty("distillery.uitest.experimentspec");
            if (experimentSpec != null) {
                report.put("experiment", experiment(experimentSpec, screenshot.resolveSibling("workbench-experiments.png")));
            }
            ui(() -> { // the researcher drags the sash between the views (e4's renderer writes it into the model)
                stack("main").setContainerData("55");
                stack("bottom").setContainerData("45");
                return null;
            });
            report.put("closedWith", workbenchState());
            report.put("result", "ok");
        } catch (Throwable t) {
            report.put("result", "error: " + t);
            java.io.StringWriter w = new java.io.StringWriter();
            t.printStackTrace(new java.io.PrintWriter(w));
            report.put("trace", w.toString());
            report.put("atFailure", atFailure());
        } finally {
            writeReport();
            display.asyncExec(() -> context.get(IWorkbench.class).close());
        }
    }

    /**
     * What the workbench showed and did when a step failed: the Jobs view's rows beside the jobs' own states,
     * the open windows, and where every thread stood, so that a failure seen once on a CI machine can be read.
     */
    private Map<String, Object> atFailure() {
        Map<String, Object> out = new LinkedHashMap<>();
        List<String> threads = new ArrayList<>(); // first: the UI thread may be the stuck one
        Thread.getAllStackTraces().forEach((t, frames) -> threads.add(t.getName() + " " + t.getState() + "\n  at "
                + String.join("\n  at ", java.util.Arrays.stream(frames).limit(12).map(String::valueOf).toList())));
        out.put("threads", threads);
        try {
            out.put("jobsView", ui(() -> rows(table("jobs.table"))));
            LaunchedJobs launched = ContextInjectionFactory.make(LaunchedJobs.class, context); // the singleton
            out.put("jobs", launched.all().stream()
                    .map(j -> j.progress().launch().label() + " | " + j.progress().state()).toList());
            out.put("shells", ui(() -> java.util.Arrays.stream(display.getShells())
                    .map(s -> s.getText() + (s.isVisible() ? "" : " (hidden)")).toList()));
        } catch (Exception e) {
            out.put("uiUnavailable", e.toString());
        }
        return out;
    }

    private void runJob(String spec) throws Exception {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("spec", spec);
        jobs.add(seen);
        TableItem[] row = {launch(spec, seen)};
        List<String> progress = new ArrayList<>();
        List<String> statusSeen = new ArrayList<>();
        int livePoints = 0;
        String state;
        while (true) {
            String[] cells = ui(() -> new String[] {row[0].getText(0), row[0].getText(1), row[0].getText(2),
                    row[0].getText(3), row[0].getText(4), row[0].getText(5), row[0].getText(6), row[0].getText(7)});
            state = cells[1];
            String shown = cells[2] + " " + cells[3];
            if (cells[3].contains("%") && (progress.isEmpty() || !progress.get(progress.size() - 1).equals(shown))) {
                progress.add(shown);
            }
            if ("RUNNING".equals(state)) {
                livePoints = Math.max(livePoints, ui(this::points));
                String line = ui(() -> find(table("jobs.table").getShell(), "status.jobs",
                        org.eclipse.swt.widgets.Label.class).getText());
                if (statusSeen.isEmpty() || !statusSeen.get(statusSeen.size() - 1).equals(line)) {
                    statusSeen.add(line);
                }
            }
            if (over(state)) {
                seen.put("label", cells[0]);
                seen.put("ranks", cells[4]);
                seen.put("run", cells[5]);
                seen.put("application", cells[6]);
                seen.put("executors", cells[7]);
                break;
            }
            check("job " + spec + " to end (" + state + ")");
            Thread.sleep(200);
        }
        seen.put("state", state);
        seen.put("progressSeen", progress.size() > 12 ? progress.subList(progress.size() - 12, progress.size()) : progress);
        seen.put("progressUpdates", progress.size());
        seen.put("livePoints", livePoints);
        seen.put("statusSeen", statusSeen.size() > 6 ? statusSeen.subList(0, 6) : statusSeen);
        seen.put("consoleTail", consoleTail());
    }


    /** Launches {@code spec} through Run As Distillery Job… and returns its new row in the Jobs view. */
    private TableItem launch(String spec, Map<String, Object> seen) throws Exception {
        return launch(spec, seen, 0, "");
    }

    /**
     * Launches {@code spec} over 2 ranks on local[2], set in the launch dialog; what the Jobs view showed of it while
     * it ran and when it ended.
     */
    private Map<String, Object> ranks(String spec) throws Exception {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("spec", spec);
        TableItem row = launch(spec, seen, 2, "local[2]");
        seen.put("ranksWhileRunning", waitFor("the ranks in the Jobs view", () -> ui(() ->
                row.getText(4).isEmpty() ? null : row.getText(4))));
        String state = ended(row, "the distributed job to end");
        seen.put("state", state);
        seen.put("label", ui(() -> row.getText(0)));
        seen.put("ranks", ui(() -> row.getText(4)));
        seen.put("application", ui(() -> row.getText(6)));
        seen.put("executors", ui(() -> row.getText(7)));
        seen.put("progress", ui(() -> row.getText(3)));
        seen.put("consoleTail", consoleTail());
        return seen;
    }

    /** As {@link #launch(String, Map)}, with the dialog's Ranks and Spark master set (0 and "": left alone). */
    private TableItem launch(String spec, Map<String, Object> seen, int ranks, String master) throws Exception {
        int before = ui(() -> table("jobs.table").getItemCount());
        // The menu item's command, through the handler service, exactly as Run > Run As Distillery Job… does.
        display.asyncExec(() -> handlers.executeHandler(commands.createCommand(LaunchHandler.COMMAND, Map.of())));
        Shell dialog = waitFor("the launch dialog", () -> {
            for (Shell s : display.getShells()) {
                if ("Run Distillery Job".equals(s.getText()) && s.isVisible()) {
                    return s;
                }
            }
            return null;
        });
        ui(() -> {
            org.eclipse.swt.widgets.Text text = find(dialog, "launch.spec", org.eclipse.swt.widgets.Text.class);
            text.setText(spec); // fires Modify: the dialog guesses the kind and validates
            return null;
        });
        seen.put("kind", ui(() -> find(dialog, "launch.kind", Combo.class).getText()));
        ui(() -> { // a prep replaces its output, so that its launch configuration can run again
            Button overwrite = find(dialog, "launch.overwrite", Button.class);
            overwrite.setSelection(seen.get("kind").toString().startsWith("prep"));
            overwrite.notifyListeners(SWT.Selection, new Event());
            if (ranks > 0) {
                find(dialog, "launch.ranks", org.eclipse.swt.widgets.Spinner.class).setSelection(ranks);
            }
            if (!master.isEmpty()) {
                find(dialog, "launch.master", Combo.class).setText(master);
            }
            return null;
        });
        ui(() -> {
            Button run = find(dialog, "launch.run", Button.class);
            if (!run.isEnabled()) {
                throw new IllegalStateException("Run is disabled for " + spec);
            }
            run.notifyListeners(SWT.Selection, new Event());
            return null;
        });
        TableItem[] row = new TableItem[1];
        waitFor("a new row in the Jobs view", () -> ui(() -> {
            Table t = table("jobs.table");
            if (t.getItemCount() > before) {
                row[0] = t.getItem(before);
                return true;
            }
            return null;
        }));
        return row[0];
    }

    /**
     * Launches {@code spec}, presses Cancel in the Jobs view once its job reports steps, and reports how it
     * ended: a training job checkpoints on SIGTERM, marks its run KILLED and the view shows it CANCELLED.
     */
    private Map<String, Object> cancel(String spec) throws Exception {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("spec", spec);
        TableItem row = launch(spec, seen);
        waitFor("the job to report steps", () -> ui(() -> row.getText(1).equals("RUNNING")
                && row.getText(3).contains("steps") ? true : null));
        seen.put("progressAtCancel", ui(() -> row.getText(3)));
        ui(() -> {
            Table t = table("jobs.table");
            t.setSelection(row);
            t.notifyListeners(SWT.Selection, new Event());
            find(t.getShell(), "jobs.cancel", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        String state = ended(row, "the cancelled job to end");
        seen.put("state", state);
        seen.put("resumeEnabled", ui(() -> find(table("jobs.table").getShell(), "jobs.resume", Button.class).isEnabled()));
        seen.put("consoleTail", consoleTail());
        return seen;
    }

    private EPartService parts() {
        MApplication app = context.get(MApplication.class);
        return app.getChildren().get(0).getContext().get(EPartService.class);
    }

    private void show(String partId) {
        ui(() -> parts().showPart(partId, EPartService.PartState.ACTIVATE));
    }

    private org.eclipse.e4.ui.model.application.ui.basic.MPartStack stack(String name) {
        MApplication app = context.get(MApplication.class);
        return (org.eclipse.e4.ui.model.application.ui.basic.MPartStack) app.getContext().get(EModelService.class)
                .find("org.distillery.workbench.stack." + name, app);
    }

    /**
     * What a restart should bring back: the stacks' sizes, the selected tab, the comparison editors, the Runs view's
     * ticks, selected run and metric, the selected experiment and export. The views are shown in turn to read them,
     * then the tab selected before is selected again, so the look itself changes nothing that is saved.
     */
    private Map<String, Object> workbenchState() throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        String tab = ui(() -> stack("main").getSelectedElement().getElementId());
        out.put("sizes", ui(() -> stack("main").getContainerData() + " / " + stack("bottom").getContainerData()));
        out.put("selectedTab", ui(() -> ((org.eclipse.e4.ui.model.application.ui.basic.MPart) stack("main").getSelectedElement()).getLabel()));
        out.put("editors", ui(() -> stack("main").getChildren().stream()
                .filter(p -> p.getElementId().equals("org.distillery.workbench.partdescriptor.compare"))
                .map(p -> ((org.eclipse.e4.ui.model.application.ui.basic.MPart) p).getLabel()).toList()));
        show("org.distillery.workbench.part.runs");
        out.put("ticked", waitFor("the Runs view's rows", () -> {
            List<String> ticked = rows(table("runs.table")).stream().filter(r -> r.startsWith("[x]")).toList();
            return ticked.isEmpty() ? null : ticked;
        }));
        out.put("selectedRun", ui(() -> selected(table("runs.table"))));
        out.put("metric", ui(() -> find(table("runs.table").getShell(), "runs.metric", Combo.class).getText()));
        show("org.distillery.workbench.part.experiments");
        out.put("selectedExperiment", ui(() -> selected(table("experiments.table"))));
        show("org.distillery.workbench.part.exports");
        out.put("selectedExport", waitFor("the Exports view's listing", () -> {
            String s = selected(table("exports.table"));
            return s.isEmpty() ? null : s;
        }));
        show(tab);
        return out;
    }

    /** The selected row's first three cells, or "" with none selected. */
    private static String selected(Table t) {
        TableItem[] s = t.getSelection();
        return s.length != 1 ? "" : s[0].getText(0) + " | " + s[0].getText(1) + " | " + s[0].getText(2);
    }

    /** The "Distillery job" launch configurations the launches saved: name, kind and spec file. */
    private List<String> launchConfigurations() throws Exception {
        ILaunchManager m = DebugPlugin.getDefault().getLaunchManager();
        List<String> out = new ArrayList<>();
        for (ILaunchConfiguration c : m.getLaunchConfigurations(
                m.getLaunchConfigurationType("org.distillery.workbench.launchConfigurationType"))) {
            out.add(c.getName() + " | " + c.getAttribute("org.distillery.launch.kind", "") + " | "
                    + Path.of(c.getAttribute("org.distillery.launch.spec", "")).getFileName());
        }
        java.util.Collections.sort(out);
        return out;
    }

    /**
     * Run > Recent Launches: shows the menu (its items are made as it opens), reads them, and picks
     * {@code name}, which runs that saved launch configuration again as a new job.
     */
    private Map<String, Object> relaunch(String name) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        int before = ui(() -> table("jobs.table").getItemCount());
        org.eclipse.swt.widgets.MenuItem[] pick = new org.eclipse.swt.widgets.MenuItem[1];
        List<String> withoutIcon = new ArrayList<>();
        out.put("withoutIcon", withoutIcon);
        out.put("items", ui(() -> {
            org.eclipse.swt.widgets.Menu recent = submenu(submenu(table("jobs.table").getShell().getMenuBar(), "Run"),
                    "Recent Launches");
            recent.notifyListeners(SWT.Show, new Event());
            List<String> items = new ArrayList<>();
            for (org.eclipse.swt.widgets.MenuItem i : recent.getItems()) {
                items.add(i.getText());
                if (i.getImage() == null) {
                    withoutIcon.add(i.getText());
                }
                if (i.getText().equals(name)) {
                    pick[0] = i;
                }
            }
            return items;
        }));
        if (pick[0] == null) {
            throw new IllegalStateException("no '" + name + "' under Run > Recent Launches: " + out.get("items"));
        }
        ui(() -> {
            pick[0].notifyListeners(SWT.Selection, new Event());
            return null;
        });
        String state = waitFor("the relaunched job to end", () -> {
            Table t = table("jobs.table");
            if (t.getItemCount() > before) {
                String s = t.getItem(before).getText(1);
                return over(s) ? s : null;
            }
            return null;
        });
        out.put("job", ui(() -> table("jobs.table").getItem(before).getText(0)));
        out.put("state", state);
        return out;
    }

    /**
     * Ticks exactly the runs named {@code names} in the Runs view (unticking the rest), compares them with the
     * Compare command as its key binding would, and reads the editor: the params with the shaded (differing) rows,
     * the metrics table, the chart's series, the rows left by Differences only, and File > Recent Comparisons.
     */
    private Map<String, Object> compare(List<String> names, Path shot) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        show("org.distillery.workbench.part.runs");
        ui(() -> {
            Button refresh = find(table("runs.table").getShell(), "runs.refresh", Button.class);
            refresh.notifyListeners(SWT.Selection, new Event());
            return null;
        });
        waitFor("the runs " + names + " in the Runs view", () -> ui(() -> {
            List<String> shown = new ArrayList<>();
            for (TableItem i : table("runs.table").getItems()) {
                shown.add(i.getText(0));
            }
            return shown.containsAll(names) ? true : null;
        }));
        ui(() -> {
            Table t = table("runs.table");
            for (TableItem i : t.getItems()) {
                boolean want = names.contains(i.getText(0));
                if (i.getChecked() != want) {
                    i.setChecked(want);
                    Event e = new Event();
                    e.item = i;
                    e.detail = SWT.CHECK;
                    t.notifyListeners(SWT.Selection, e);
                }
            }
            return null;
        });
        out.put("compareEnabled", ui(() -> find(table("runs.table").getShell(), "runs.compare", Button.class)
                .isEnabled()));
        display.asyncExec(() -> handlers.executeHandler(commands.createCommand(CompareHandler.COMMAND, Map.of())));
        Table params = waitFor("the comparison's params", () -> {
            Table t = findOrNull(table("runs.table").getShell(), "compare.params", Table.class);
            return t != null && t.getItemCount() > 0 ? t : null;
        });
        Composite editor = ui(() -> { // the editor's own widgets: up from its params table to its status line
            Composite c = params.getParent();
            while (findOrNull(c, "compare.status", org.eclipse.swt.widgets.Label.class) == null) {
                c = c.getParent();
            }
            return c;
        });
        out.put("status", ui(() -> find(editor, "compare.status", org.eclipse.swt.widgets.Label.class).getText()));
        out.put("paramColumns", ui(() -> columns(find(editor, "compare.params", Table.class))));
        out.put("params", ui(() -> rows(find(editor, "compare.params", Table.class))));
        out.put("shaded", ui(() -> {
            List<String> shaded = new ArrayList<>();
            for (TableItem i : find(editor, "compare.params", Table.class).getItems()) {
                org.eclipse.swt.graphics.RGB bg = i.getBackground().getRGB();
                if (bg.equals(new org.eclipse.swt.graphics.RGB(ComparePart.DIFFERS[0], ComparePart.DIFFERS[1],
                        ComparePart.DIFFERS[2]))) {
                    shaded.add(i.getText(0));
                }
            }
            return shaded;
        }));
        out.put("metricColumns", ui(() -> columns(find(editor, "compare.metrics", Table.class))));
        out.put("metrics", ui(() -> rows(find(editor, "compare.metrics", Table.class))));
        out.put("chart", ui(() -> {
            Map<String, Object> series = new LinkedHashMap<>();
            for (ISeries<?> s : find(editor, "compare.chart", Chart.class).getSeriesSet().getSeries()) {
                org.eclipse.swtchart.ILineSeries<?> l = (org.eclipse.swtchart.ILineSeries<?>) s;
                series.put(s.getDescription(), s.getXSeries().length + " " + l.getLineStyle());
            }
            return series;
        }));
        out.put("screenshot", screenshot(shot));
        out.put("differencesOnly", ui(() -> {
            Button b = find(editor, "compare.differences", Button.class);
            b.setSelection(true);
            b.notifyListeners(SWT.Selection, new Event());
            return find(editor, "compare.params", Table.class).getItemCount();
        }));
        out.put("recent", ui(() -> {
            org.eclipse.swt.widgets.Menu recent = submenu(submenu(table("runs.table").getShell().getMenuBar(), "File"),
                    "Recent Comparisons");
            recent.notifyListeners(SWT.Show, new Event());
            List<String> items = new ArrayList<>();
            for (org.eclipse.swt.widgets.MenuItem i : recent.getItems()) {
                items.add(i.getText());
            }
            return items;
        }));
        return out;
    }

    /**
     * Runs a small distillation experiment from the launch dialog, then reads it in the Experiments view: the
     * members' table, the scorecard's rows and whether both plots loaded; then Show Run on the teacher's row, and
     * the Runs view's ticked rows after it.
     */
    private Map<String, Object> experiment(String spec, Path shot) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        TableItem row = launch(spec, out);
        out.put("state", ended(row, "the experiment to end"));
        if (!"FINISHED".equals(out.get("state"))) {
            out.put("consoleTail", consoleTail());
            return out;
        }
        show("org.distillery.workbench.part.experiments");
        waitFor("the experiment in the Experiments view", () -> ui(() -> {
            find(table("experiments.table").getShell(), "experiments.refresh", Button.class)
                    .notifyListeners(SWT.Selection, new Event());
            return table("experiments.members").getItemCount() > 0 ? true : null;
        }));
        out.put("experiments", ui(() -> rows(table("experiments.table"))));
        out.put("members", ui(() -> rows(table("experiments.members"))));
        out.put("scorecard", ui(() -> rows(table("experiments.scorecard"))));
        out.put("status", ui(() -> find(table("experiments.table").getShell(), "experiments.status",
                org.eclipse.swt.widgets.Label.class).getText()));
        out.put("screenshot", screenshot(shot));
        ui(() -> {
            Table members = table("experiments.members");
            members.setSelection(0); // the teacher
            members.notifyListeners(SWT.Selection, new Event());
            find(members.getShell(), "experiments.showrun", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        out.put("runsAfterShowRun", ui(() -> rows(table("runs.table"))));
        return out;
    }

    /**
     * Adds the cluster {@code nameAndMaster} ({@code name=spark://...}) in Distillery > Preferences, then launches
     * {@code spec} on it by name over 2 ranks, and reports what the Jobs view showed: the application and executors
     * while it ran, and how it ended.
     */
    private Map<String, Object> cluster(String nameAndMaster, String spec) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        String name = nameAndMaster.substring(0, nameAndMaster.indexOf('='));
        String url = nameAndMaster.substring(nameAndMaster.indexOf('=') + 1);
        display.asyncExec(() -> handlers.executeHandler(commands.createCommand(
                "org.distillery.workbench.command.preferences", Map.of())));
        Shell prefs = waitFor("the preferences dialog", () -> {
            for (Shell s : display.getShells()) {
                if ("Distillery Preferences".equals(s.getText()) && s.isVisible()) {
                    return s;
                }
            }
            return null;
        });
        ui(() -> {
            find(prefs, "prefs.cluster.name", org.eclipse.swt.widgets.Text.class).setText(name);
            find(prefs, "prefs.cluster.master", org.eclipse.swt.widgets.Text.class).setText(url);
            find(prefs, "prefs.cluster.workFolder", org.eclipse.swt.widgets.Text.class).setText(
                    System.getProperty("distillery.uitest.clusterworkfolder", ""));
            find(prefs, "prefs.cluster.add", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        out.put("clusters", ui(() -> rows(find(prefs, "prefs.clusters", Table.class))));
        ui(() -> {
            button(prefs, "Apply and Close").notifyListeners(SWT.Selection, new Event());
            return null;
        });
        String prepSpec = System.getProperty("distillery.uitest.clusterprepspec");
        if (prepSpec != null) { // a prep on the cluster: its executors read the sources, its output goes to HDFS
            Map<String, Object> prep = new LinkedHashMap<>();
            TableItem row = launch(prepSpec, prep, 0, name);
            List<String> seen = new ArrayList<>();
            prep.put("state", endedOnCluster(row, seen));
            prep.put("applicationSeen", seen);
            if (!"FINISHED".equals(prep.get("state"))) {
                prep.put("consoleTail", consoleTail());
            }
            out.put("prep", prep);
        }
        TableItem row = launch(spec, out, 2, name);
        List<String> seen = new ArrayList<>();
        String state = endedOnCluster(row, seen);
        out.put("state", state);
        out.put("applicationSeen", seen);
        out.put("label", ui(() -> row.getText(0)));
        out.put("ranks", ui(() -> row.getText(4)));
        if (!"FINISHED".equals(state)) {
            out.put("consoleTail", consoleTail());
        }
        return out;
    }

    /**
     * Launches {@code spec} on the cluster {@code name} over 2 ranks, presses Cancel once it has done 20 steps (two
     * checkpoints), then Resume, and reports both jobs: their applications, states and console tails.
     */
    /** Waits for the job in {@code row} to end, noting each "application | executors" the Jobs view showed. */
    private String endedOnCluster(TableItem row, List<String> seen) throws Exception {
        return waitFor("the cluster job to end", () -> ui(() -> {
            String shown = row.getText(6) + " | " + row.getText(7);
            if (!row.getText(6).isEmpty() && (seen.isEmpty() || !seen.get(seen.size() - 1).equals(shown))) {
                seen.add(shown);
            }
            String st = row.getText(1);
            return over(st) ? st : null;
        }));
    }

    private Map<String, Object> clusterCancel(String name, String spec) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        TableItem row = launch(spec, out, 2, name);
        waitFor("20 steps on the cluster", () -> ui(() -> {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)/\\d+ steps").matcher(row.getText(3));
            return m.find() && Integer.parseInt(m.group(1)) >= 20 && !row.getText(6).isEmpty() ? true : null;
        }));
        out.put("application", ui(() -> row.getText(6)));
        out.put("executors", ui(() -> row.getText(7)));
        out.put("progressAtCancel", ui(() -> row.getText(3)));
        int before = ui(() -> table("jobs.table").getItemCount());
        ui(() -> {
            Table t = table("jobs.table");
            t.setSelection(row);
            t.notifyListeners(SWT.Selection, new Event());
            find(t.getShell(), "jobs.cancel", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        out.put("state", ended(row, "the cancelled cluster job to end"));
        out.put("consoleTail", consoleTail());
        String run = "train-" + org.distillery.workbench.core.engine.JobLaunch.specName(Path.of(spec)); // its run's name
        show("org.distillery.workbench.part.runs");
        out.put("runStatusAfterCancel", waitFor("the cancelled run in the Runs view", () -> {
            find(table("runs.table").getShell(), "runs.refresh", Button.class).notifyListeners(SWT.Selection,
                    new Event());
            for (TableItem i : table("runs.table").getItems()) {
                if (i.getText(0).equals(run)) {
                    return i.getText(2);
                }
            }
            return null;
        }));
        ui(() -> {
            Table t = table("jobs.table");
            t.setSelection(row);
            t.notifyListeners(SWT.Selection, new Event());
            find(t.getShell(), "jobs.resume", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        TableItem resumed = waitFor("the resumed job's row", () -> ui(() -> {
            Table t = table("jobs.table");
            return t.getItemCount() > before ? t.getItem(before) : null;
        }));
        String[] firstSteps = {null};
        out.put("resumedState", waitFor("the resumed cluster job to end", () -> ui(() -> {
            if (firstSteps[0] == null && resumed.getText(3).contains("steps")) {
                firstSteps[0] = resumed.getText(3);
            }
            String st = resumed.getText(1);
            return over(st) ? st : null;
        })));
        out.put("resumedFirstProgress", firstSteps[0]);
        out.put("resumedLabel", ui(() -> resumed.getText(0)));
        out.put("resumedApplication", ui(() -> resumed.getText(6)));
        out.put("resumedRun", ui(() -> resumed.getText(5)));
        out.put("cancelledRun", ui(() -> row.getText(5)));
        out.put("resumedConsoleTail", consoleTail());
        return out;
    }

    /** Each view tab of the window, with whether it shows an icon. */
    private static Map<String, Boolean> tabIcons(Composite root) {
        Map<String, Boolean> out = new LinkedHashMap<>();
        for (Control c : root.getChildren()) {
            if (c instanceof org.eclipse.swt.custom.CTabFolder f) {
                for (org.eclipse.swt.custom.CTabItem i : f.getItems()) {
                    out.put(i.getText(), i.getImage() != null);
                }
            }
            if (c instanceof Composite k) {
                out.putAll(tabIcons(k));
            }
        }
        return out;
    }

    /** The last 3,000 characters of the Jobs view's console (the selected job's). */
    private String consoleTail() {
        return ui(() -> {
            String text = find(table("jobs.table").getShell(), "jobs.console", org.eclipse.swt.custom.StyledText.class)
                    .getText();
            return text.length() > 3000 ? text.substring(text.length() - 3000) : text;
        });
    }

    /** Waits for the job in {@code row} of the Jobs view to end; its state (FINISHED, FAILED or CANCELLED). */
    private String ended(TableItem row, String what) throws Exception {
        return waitFor(what, () -> ui(() -> {
            String st = row.getText(1);
            return over(st) ? st : null;
        }));
    }

    /** Whether a Jobs view state is an end (FINISHED, FAILED or CANCELLED), not STARTING or RUNNING. */
    private static boolean over(String state) {
        return !state.equals("RUNNING") && !state.equals("STARTING");
    }

    /** A dialog's push button by its label (JFace makes them unnamed). */
    private static Button button(Composite root, String text) {
        for (Control c : root.getChildren()) {
            if (c instanceof Button b && text.equals(b.getText())) {
                return b;
            }
            if (c instanceof Composite k) {
                try {
                    return button(k, text);
                } catch (IllegalStateException e) {
                    // not under this one
                }
            }
        }
        throw new IllegalStateException("no button '" + text + "' in " + root);
    }

    private static List<String> columns(Table t) {
        List<String> out = new ArrayList<>();
        for (org.eclipse.swt.widgets.TableColumn c : t.getColumns()) {
            out.add(c.getText());
        }
        return out;
    }

    private static org.eclipse.swt.widgets.Menu submenu(org.eclipse.swt.widgets.Menu menu, String text) {
        if ((menu.getStyle() & SWT.BAR) == 0) {
            menu.notifyListeners(SWT.Show, new Event()); // JFace fills a menu's items as it opens
        }
        for (org.eclipse.swt.widgets.MenuItem i : menu.getItems()) {
            if (i.getText().replace("&", "").equals(text)) {
                return i.getMenu();
            }
        }
        throw new IllegalStateException("no menu '" + text + "'");
    }

    /** Opens a spec with a mistake in the editor and reads the problems the engine's validation marked. */
    /**
     * Runs the bad spec as a job: it fails, its result lands in the platform log, and the Error Log view lists it on
     * top; a double-click on the entry opens the spec in its editor at the line the error names.
     */
    private Map<String, Object> errorLog(Path spec, Path shot) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        TableItem row = launch(spec.toString(), out);
        out.put("state", ended(row, "the bad spec's job to end"));
        show("org.distillery.workbench.part.errorlog");
        out.put("entry", waitFor("the failed job in the Error Log", () -> {
            Table t = table("errorlog.table");
            return t.getItemCount() > 0 && t.getItem(0).getText(3).contains(spec.getFileName().toString())
                    ? rows(t).get(0) : null;
        }));
        ui(() -> {
            Table t = table("errorlog.table");
            t.setSelection(0);
            t.notifyListeners(SWT.Selection, new Event());
            return null;
        });
        out.put("detail", ui(() -> find(table("errorlog.table").getShell(), "errorlog.detail",
                org.eclipse.swt.custom.StyledText.class).getText()));
        Thread.sleep(500); // GTK draws the selection and the detail on its next frame
        out.put("screenshot", screenshot(shot));
        ui(() -> {
            table("errorlog.table").notifyListeners(SWT.DefaultSelection, new Event());
            return null;
        });
        org.eclipse.e4.ui.model.application.ui.basic.MPart editor = ui(() -> parts().getActivePart());
        out.put("opened", ui(() -> editor.getLabel()));
        out.put("selectedLine", ui(() -> {
            org.eclipse.swt.custom.StyledText text = find((Composite) editor.getWidget(), "editor.text",
                    org.eclipse.swt.custom.StyledText.class);
            return text.getLineAtOffset(text.getSelection().x) + 1;
        }));
        out.put("status", ui(() -> find(table("errorlog.table").getShell(), "errorlog.status",
                org.eclipse.swt.widgets.Label.class).getText()));
        return out;
    }

    private Map<String, Object> editor(Path spec, Path shot) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        org.eclipse.e4.ui.model.application.ui.basic.MPart part = ui(() -> SpecEditorPart.open(parts(),
                context.get(EModelService.class), context.get(MApplication.class), spec));
        Composite editor = ui(() -> (Composite) part.getWidget()); // its own widgets: other specs are open too
        waitFor("the editor's problems of " + spec.getFileName(),
                () -> find(editor, "editor.problems", Table.class).getItemCount() > 0 ? true : null);
        out.put("problems", ui(() -> rows(find(editor, "editor.problems", Table.class))));
        out.put("status", ui(() -> find(editor, "editor.status", org.eclipse.swt.widgets.Label.class).getText()));
        out.put("markedLines", ui(() -> ((SpecEditorPart) part.getObject()).markedLines()));
        out.put("screenshot", screenshot(shot));
        return out;
    }

    /** The Datasets view: the catalogue, the prep outputs, a dataset's filters and its sample documents. */
    private Map<String, Object> datasets() throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        show("org.distillery.workbench.part.datasets");
        waitFor("the dataset catalogue", () -> table("datasets.table").getItemCount() >= 3 ? true : null);
        ui(() -> {
            Table t = table("datasets.table");
            for (int i = 0; i < t.getItemCount(); i++) {
                if (t.getItem(i).getText(0).equals("nlp-corpus")) {
                    t.setSelection(i);
                    t.notifyListeners(SWT.Selection, new Event());
                }
            }
            return null;
        });
        waitFor("the sample documents of nlp-corpus", () -> table("datasets.samples").getItemCount() > 0 ? true : null);
        out.put("datasets", ui(() -> rows(table("datasets.table"))));
        out.put("preps", ui(() -> rows(table("datasets.preps"))));
        out.put("filters", ui(() -> rows(table("datasets.filters"))));
        out.put("samples", ui(() -> table("datasets.samples").getItemCount()));
        return out;
    }

    /** The Exports view: exports the trained checkpoint, lists it with provenance, checks it with the readers. */
    private Map<String, Object> exports(Path checkpoint, Path shot) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        show("org.distillery.workbench.part.exports");
        ui(() -> {
            ((ExportsPart) parts().findPart("org.distillery.workbench.part.exports").getObject()).export(checkpoint);
            return null;
        });
        waitFor("the export's three formats", () -> table("exports.table").getItemCount() == 3 ? true : null);
        out.put("exports", ui(() -> rows(table("exports.table"))));
        out.put("provenance", ui(() -> rows(table("exports.provenance"))));
        ui(() -> {
            Button check = find(table("exports.table").getShell(), "exports.check", Button.class);
            check.notifyListeners(SWT.Selection, new Event());
            return null;
        });
        waitFor("the readers' checks", () -> table("exports.checks").getItemCount() == 3 ? true : null);
        out.put("checks", ui(() -> rows(table("exports.checks"))));
        out.put("status", ui(() -> find(table("exports.table").getShell(), "exports.status",
                org.eclipse.swt.widgets.Label.class).getText()));
        // Scorecard on the GGUF row: an Eclipse Job measuring it in llama.cpp; the row gains its scorecard cells.
        ui(() -> {
            Table t = table("exports.table");
            t.setSelection(2);
            t.notifyListeners(SWT.Selection, new Event());
            find(t.getShell(), "exports.score", Button.class).notifyListeners(SWT.Selection, new Event());
            return null;
        });
        List<String> seen = new ArrayList<>();
        String scored = waitFor("the GGUF export's scorecard", () -> {
            Table t = table("exports.table");
            String st = find(t.getShell(), "exports.status", org.eclipse.swt.widgets.Label.class).getText();
            if (seen.isEmpty() || !seen.get(seen.size() - 1).equals(st)) {
                seen.add(st);
            }
            if (st.startsWith("Scorecard: ") && !st.startsWith("Scorecard: measuring")) {
                return "error: " + st;
            }
            for (TableItem i : t.getItems()) {
                if (i.getText(1).equals("gguf") && !i.getText(6).isEmpty()) {
                    return rows(t).toString();
                }
            }
            return null;
        });
        out.put("scored", scored);
        out.put("scoreStatuses", seen);
        out.put("screenshot", screenshot(shot));
        return out;
    }

    private int points() {
        Chart c = find(table("runs.table").getShell(), "runs.chart", Chart.class);
        int max = 0;
        for (ISeries<?> s : c.getSeriesSet().getSeries()) {
            max = Math.max(max, s.getXSeries().length);
        }
        return max;
    }

    private Map<String, Object> chart() {
        Chart c = find(table("runs.table").getShell(), "runs.chart", Chart.class);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("title", c.getTitle().getText());
        Map<String, Integer> series = new LinkedHashMap<>();
        for (ISeries<?> s : c.getSeriesSet().getSeries()) {
            series.put(s.getDescription(), s.getXSeries().length);
        }
        out.put("series", series);
        return out;
    }

    private static List<String> rows(Table t) {
        List<String> out = new ArrayList<>();
        for (TableItem item : t.getItems()) {
            StringBuilder s = new StringBuilder(item.getChecked() ? "[x] " : "[ ] ");
            for (int c = 0; c < t.getColumnCount(); c++) {
                s.append(c == 0 ? "" : " | ").append(item.getText(c));
            }
            out.add(s.toString());
        }
        return out;
    }

    private Table table(String name) {
        for (Shell s : display.getShells()) {
            Table t = findOrNull(s, name, Table.class);
            if (t != null) {
                return t;
            }
        }
        throw new IllegalStateException("no table " + name);
    }

    private static <W extends Control> W find(Composite root, String name, Class<W> type) {
        W w = findOrNull(root, name, type);
        if (w == null) {
            throw new IllegalStateException("no " + type.getSimpleName() + " named " + name + " in " + root);
        }
        return w;
    }

    private static <W extends Control> W findOrNull(Composite root, String name, Class<W> type) {
        for (Control c : root.getChildren()) {
            if (name.equals(c.getData(Widgets.KEY)) && type.isInstance(c)) {
                return type.cast(c);
            }
            if (c instanceof Composite k) {
                W w = findOrNull(k, name, type);
                if (w != null) {
                    return w;
                }
            }
        }
        return null;
    }

    /** Copies the workbench window from the screen into a PNG, as a user's screenshot would show it. */
    private String screenshot(Path file) throws IOException {
        ImageData data = ui(() -> {
            Shell shell = table("runs.table").getShell();
            Rectangle b = shell.getBounds();
            GC gc = new GC(display);
            Image image = new Image(display, b.width, b.height);
            try {
                gc.copyArea(image, b.x, b.y);
                return image.getImageData();
            } finally {
                gc.dispose();
                image.dispose();
            }
        });
        ImageLoader loader = new ImageLoader();
        loader.data = new ImageData[] {data};
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        loader.save(tmp.toString(), SWT.IMAGE_PNG);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return file + " " + data.width + "x" + data.height;
    }

    private <T> T ui(Callable<T> action) {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Exception> error = new AtomicReference<>();
        display.syncExec(() -> {
            try {
                result.set(action.call());
            } catch (Exception e) {
                error.set(e);
            }
        });
        if (error.get() != null) {
            throw new IllegalStateException(error.get().getMessage(), error.get());
        }
        return result.get();
    }

    private <T> T waitFor(String what, Callable<T> probe) throws Exception {
        while (true) {
            T v = ui(probe);
            if (v != null) {
                return v;
            }
            check(what);
            Thread.sleep(100);
        }
    }

    private void check(String what) {
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException("timed out waiting for " + what);
        }
    }

    private void writeReport() {
        try {
            Path file = Path.of(System.getProperty("distillery.uitest.report"));
            Files.writeString(file, new com.fasterxml.jackson.databind.ObjectMapper()
                    .writerWithDefaultPrettyPrinter().writeValueAsString(report), StandardCharsets.UTF_8);
        } catch (IOException e) {
            System.err.println("ui driver: cannot write the report: " + e);
        }
    }
}
