package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.util.List;
import org.distillery.workbench.core.engine.JobProgress;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.di.UIEventTopic;
import org.eclipse.jface.dialogs.MessageDialog;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.custom.StyledText;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.program.Program;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;

/**
 * The launched jobs: state, stage and progress from each job's events, the selected job's console,
 * Cancel (graceful stop, then kill) and Resume (a stopped training job, with --resume). Redrawn when a
 * job's change is published ({@link JobTopics}).
 */
public class JobsPart {
    @Inject
    LaunchedJobs jobs;

    private Table table;
    private StyledText console;
    private Button cancel;
    private Button resume;
    private Button sparkUi;
    private DistilleryJob shown;
    private long shownLines;

    @PostConstruct
    public void create(Composite parent) {
        Composite bar = Widgets.bar(parent, 3);
        cancel = Widgets.button(bar, "Cancel", "jobs.cancel", () -> {
            DistilleryJob j = selected();
            if (j != null) {
                j.cancel();
            }
        });
        cancel.setToolTipText("Stop the selected job: SIGTERM (a training job checkpoints), then a kill after "
                + DistilleryJob.GRACE.toSeconds() + " s");
        resume = Widgets.button(bar, "Resume", "jobs.resume", () -> {
            DistilleryJob j = selected();
            if (j != null) {
                try {
                    jobs.resume(j);
                } catch (RuntimeException ex) {
                    MessageDialog.openError(parent.getShell(), "Resume", ex.getMessage());
                }
            }
        });
        resume.setToolTipText("Launch the selected stopped or failed training job again with --resume");
        sparkUi = Widgets.button(bar, "Spark UI", "jobs.sparkui", () -> {
            DistilleryJob j = selected();
            if (j != null && j.progress().sparkUi() != null && !Program.launch(j.progress().sparkUi())) {
                MessageDialog.openInformation(parent.getShell(), "Spark UI", "No web browser is registered on this"
                        + " desktop. The job's Spark UI is at\n" + j.progress().sparkUi());
            }
        });
        sparkUi.setToolTipText("Open the selected job's Spark application UI in the web browser");
        SashForm sash = new SashForm(parent, SWT.VERTICAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        table = Widgets.table(sash, SWT.SINGLE, "jobs.table", "Job:220", "State:90", "Stage:150", "Progress:160",
                "Ranks:90", "Run:260", "Application:190", "Executors:75r");
        table.addListener(SWT.Selection, e -> refresh());
        console = Widgets.named(new StyledText(sash, SWT.MULTI | SWT.V_SCROLL | SWT.H_SCROLL | SWT.READ_ONLY
                | SWT.BORDER), "jobs.console");
        console.setFont(parent.getDisplay().getSystemFont());
        sash.setWeights(2, 3);
        refresh();
    }

    @Inject
    @Optional
    void jobChanged(@UIEventTopic(JobTopics.ALL) DistilleryJob job) {
        refresh();
    }

    private DistilleryJob selected() {
        int i = table.getSelectionIndex();
        List<DistilleryJob> all = jobs.all();
        return i >= 0 && i < all.size() ? all.get(i) : null;
    }

    private void refresh() {
        if (table == null || table.isDisposed()) {
            return;
        }
        List<DistilleryJob> all = jobs.all();
        while (table.getItemCount() < all.size()) {
            new TableItem(table, SWT.NONE);
            table.setSelection(table.getItemCount() - 1); // follow the newest launch
        }
        for (int i = 0; i < all.size(); i++) {
            JobProgress p = all.get(i).progress();
            String progressText = p.fraction() >= 0 ? Math.round(p.fraction() * 100) + "%  " + p.progressText()
                    : p.progressText();
            String[] row = {p.launch().label(), p.state().name(), p.stage(), progressText, p.ranksText(),
                    p.runId() == null ? "" : p.experiment() + " / " + p.runId(),
                    p.application() == null ? "" : p.application(), p.executorsText()};
            TableItem item = table.getItem(i);
            for (int c = 0; c < row.length; c++) {
                if (!row[c].equals(item.getText(c))) {
                    item.setText(c, row[c]);
                }
            }
        }
        DistilleryJob sel = selected();
        cancel.setEnabled(sel != null && !sel.progress().ended());
        sparkUi.setEnabled(sel != null && !sel.progress().ended() && sel.progress().sparkUi() != null);
        if (sel != null && sel.progress().application() != null) {
            sparkUi.setToolTipText(sel.progress().application() + " on " + sel.progress().master()
                    + (sel.progress().sparkUi() != null ? ": " + sel.progress().sparkUi() : " (no web UI)"));
        }
        resume.setEnabled(sel != null && sel.progress().ended() && sel.progress().state() != JobProgress.State.FINISHED
                && sel.progress().launch().kind().resumable());
        showConsole();
    }

    private void showConsole() {
        DistilleryJob sel = selected();
        if (sel != shown) {
            shown = sel;
            shownLines = 0;
            console.setText("");
        }
        if (sel == null) {
            return;
        }
        List<String> lines = sel.progress().consoleSince(shownLines);
        if (!lines.isEmpty()) {
            shownLines = sel.progress().consoleCount();
            console.append(String.join("\n", lines) + "\n");
            console.setTopIndex(console.getLineCount() - 1);
        }
    }
}
