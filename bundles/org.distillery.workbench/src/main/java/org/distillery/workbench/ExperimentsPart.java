package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.Locale;
import org.distillery.workbench.core.experiments.ExperimentResult;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.di.UIEventTopic;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.graphics.Image;
import org.eclipse.swt.graphics.Rectangle;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.program.Program;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Canvas;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableColumn;
import org.eclipse.swt.widgets.TableItem;

/**
 * The distillation experiments in the work folder ({@code distillery experiment}'s reports): the table of teacher,
 * scratch and students (held-out loss, gap closed, tokens, epochs), its loss curves, and the serving scorecard of the
 * teacher's and headline student's exports with its plot. Show Run ticks a member's run in the Runs view; Open Export
 * shows a scored export's folder. Read again when an experiment job ends ({@link JobTopics}) and on Refresh.
 */
public class ExperimentsPart {
    @Inject
    WorkbenchSettings settings;
    @Inject
    EPartService parts;
    @Inject
    org.eclipse.e4.ui.model.application.ui.basic.MPart part;

    private Table experiments;
    private Table members;
    private Table served;
    private Canvas curves;
    private Canvas scorecard;
    private Label status;
    private Button showRun;
    private Button openExport;
    private Image curvesImage;
    private Image scorecardImage;
    private KeptSelection kept;

    @PostConstruct
    public void create(Composite parent) {
        Composite top = Widgets.bar(parent, 4);
        status = Widgets.status(top, "experiments.status");
        showRun = Widgets.button(top, "Show Run", "experiments.showrun", this::showRun);
        showRun.setToolTipText("Tick the selected model's run in the Runs view");
        openExport = Widgets.button(top, "Open Export", "experiments.openexport", this::openExport);
        openExport.setToolTipText("Show the selected export's folder");
        Widgets.button(top, "Refresh", "experiments.refresh", this::reload);

        SashForm sash = new SashForm(parent, SWT.HORIZONTAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        experiments = Widgets.table(sash, SWT.SINGLE, "experiments.table", "Experiment:120", "Gap closed:85r",
                "Goal:60r");
        experiments.addListener(SWT.Selection, e -> show());
        kept = new KeptSelection(part, experiments, "selected", e -> ((ExperimentResult) e).name());
        SashForm right = new SashForm(sash, SWT.VERTICAL);
        members = Widgets.table(right, SWT.SINGLE, "experiments.members", "Role:70", "Model:150", "Params:90r",
                "Non-emb.:90r", "Tokens:90r", "Epochs:65r", "Held-out loss:100r", "Gap closed:85r");
        members.addListener(SWT.DefaultSelection, e -> showRun());
        members.addListener(SWT.Selection, e -> buttons());
        served = Widgets.table(right, SWT.SINGLE, "experiments.scorecard", "Export:150", "Runtime:150", "MiB:70r",
                "Held-out loss:100r", "Retained:75r", "Gen tok/s:80r");
        served.addListener(SWT.DefaultSelection, e -> openExport());
        served.addListener(SWT.Selection, e -> buttons());
        SashForm plots = new SashForm(right, SWT.HORIZONTAL);
        curves = Widgets.named(new Canvas(plots, SWT.BORDER), "experiments.curves");
        curves.addListener(SWT.Paint, e -> paint(e.gc, curves, curvesImage));
        scorecard = Widgets.named(new Canvas(plots, SWT.BORDER), "experiments.scorecardplot");
        scorecard.addListener(SWT.Paint, e -> paint(e.gc, scorecard, scorecardImage));
        right.setWeights(3, 3, 5);
        sash.setWeights(1, 4);
        parent.addDisposeListener(e -> images(null, null));
        reload();
    }

    @Inject
    @Optional
    void jobEnded(@UIEventTopic(JobTopics.STATE) DistilleryJob job) {
        if (experiments != null && !experiments.isDisposed() && job.progress().ended()) {
            reload();
        }
    }

    /** Lists the experiments again, keeping the selected one. */
    public void reload() {
        String selected = kept.wanted();
        Path work = settings.get().workDir();
        ExperimentResult.Listing l = ExperimentResult.list(work);
        experiments.removeAll();
        for (ExperimentResult e : l.experiments()) {
            ExperimentResult.Member h = e.headline();
            TableItem item = Widgets.row(experiments, e, e.name(), h == null || h.gapClosed() == null ? "—"
                    : percent(h.gapClosed()), percent(e.goal()) + (e.goalMet() ? " ✓" : ""));
            if (e.name().equals(selected) || selected == null && experiments.getItemCount() == 1) {
                experiments.setSelection(item);
            }
        }
        int n = l.experiments().size();
        String where = n + (n == 1 ? " experiment in " : " experiments in ") + work.resolve("experiment");
        status.setText(l.problems().isEmpty() ? where : where + "; " + String.join("; ", l.problems()));
        status.setToolTipText(String.join("\n", l.problems()));
        status.getParent().layout();
        show();
    }

    private void show() {
        members.removeAll();
        served.removeAll();
        ExperimentResult e = selected();
        if (e == null) {
            images(null, null);
            buttons();
            return;
        }
        for (ExperimentResult.Member m : e.members()) {
            Widgets.row(members, m, m.role(), m.name(), String.format(Locale.ROOT, "%,d", m.parameters()),
                    String.format(Locale.ROOT, "%,d", m.nonEmbeddingParameters()),
                    String.format(Locale.ROOT, "%,d", m.trainTokens()), String.format(Locale.ROOT, "%.2f", m.epochs()),
                    String.format(Locale.ROOT, "%.4f", m.heldOutLoss()),
                    m.gapClosed() == null ? "" : percent(m.gapClosed()));
        }
        for (ExperimentResult.Served s : e.served()) {
            Widgets.row(served, s, s.label(), s.runtime(), String.format(Locale.ROOT, "%.2f", s.bytes() / 1048576.0),
                    String.format(Locale.ROOT, "%.4f", s.loss()), percent(s.qualityRetained()),
                    String.format(Locale.ROOT, "%,.0f", s.generatePerS()));
        }
        if (e.served().isEmpty() && e.scorecardProblem() != null) {
            Widgets.row(served, null, "no scorecard: " + e.scorecardProblem());
        }
        for (Table t : new Table[] {members, served}) {
            for (TableColumn c : t.getColumns()) {
                c.pack();
            }
        }
        images(load(e.plot()), load(e.scorecardPlot()));
        buttons();
    }

    private ExperimentResult selected() {
        return experiments.getSelectionCount() == 1 ? (ExperimentResult) experiments.getSelection()[0].getData() : null;
    }

    private void buttons() {
        showRun.setEnabled(members.getSelectionCount() == 1
                && ((ExperimentResult.Member) members.getSelection()[0].getData()).runId() != null);
        openExport.setEnabled(served.getSelectionCount() == 1 && served.getSelection()[0].getData() != null);
    }

    /** Ticks the selected model's run in the Runs view and brings the view up. */
    void showRun() {
        if (members.getSelectionCount() != 1) {
            return;
        }
        ExperimentResult.Member m = (ExperimentResult.Member) members.getSelection()[0].getData();
        var runs = parts.showPart("org.distillery.workbench.part.runs", EPartService.PartState.ACTIVATE);
        if (runs != null && runs.getObject() instanceof RunsPart p && m.runId() != null) {
            p.reveal(m.runId());
        }
    }

    private void openExport() {
        if (served.getSelectionCount() == 1 && served.getSelection()[0].getData() instanceof ExperimentResult.Served s
                && s.path() != null) {
            Program.launch(s.path().toString());
        }
    }

    private Image load(Path png) {
        if (png == null) {
            return null;
        }
        try {
            return new Image(curves.getDisplay(), png.toString());
        } catch (org.eclipse.swt.SWTException e) {
            status.setText(png + ": not a readable PNG (" + e.getMessage() + ")");
            return null;
        }
    }

    private void images(Image curvesNow, Image scorecardNow) {
        if (curvesImage != null) {
            curvesImage.dispose();
        }
        if (scorecardImage != null) {
            scorecardImage.dispose();
        }
        curvesImage = curvesNow;
        scorecardImage = scorecardNow;
        if (!curves.isDisposed()) {
            curves.redraw();
            scorecard.redraw();
        }
    }

    /** Draws {@code image} scaled to fit the canvas, its aspect kept. */
    private static void paint(org.eclipse.swt.graphics.GC gc, Canvas canvas, Image image) {
        Rectangle area = canvas.getClientArea();
        if (image == null) {
            gc.drawText("no plot", 8, 8);
            return;
        }
        Rectangle b = image.getBounds();
        double scale = Math.min((double) area.width / b.width, (double) area.height / b.height);
        int w = (int) (b.width * scale);
        int h = (int) (b.height * scale);
        gc.setAntialias(SWT.ON);
        gc.setInterpolation(SWT.HIGH);
        gc.drawImage(image, 0, 0, b.width, b.height, (area.width - w) / 2, (area.height - h) / 2, w, h);
    }

    private static String percent(double share) {
        return Double.isNaN(share) ? "—" : String.format(Locale.ROOT, "%.0f%%", 100 * share);
    }
}
