package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.distillery.workbench.core.engine.EngineQuery;
import org.distillery.workbench.core.exports.Export;
import org.distillery.workbench.core.exports.ExportCheck;
import org.distillery.workbench.core.exports.ScorecardRun;
import org.eclipse.core.runtime.Status;
import org.eclipse.core.runtime.SubMonitor;
import org.eclipse.core.runtime.jobs.Job;
import org.eclipse.jface.dialogs.MessageDialog;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.program.Program;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.FileDialog;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;

/**
 * The exports in the work dir, one row per format, with the provenance each file carries (run, step,
 * data and tokenizer hashes, model shape); Check runs the serving teams' readers on the selected
 * export again, Open Folder shows it in the desktop's file manager.
 */
public class ExportsPart {
    @Inject
    WorkbenchSettings settings;
    @Inject
    org.eclipse.e4.ui.model.application.ui.basic.MPart part;

    private Label status;
    private Table exports;
    private Table provenance;
    private Table checks;
    private Button check;
    private Button open;
    private Button score;
    private KeptSelection kept;

    @PostConstruct
    public void create(Composite parent) {
        Composite top = Widgets.bar(parent, 6);
        status = Widgets.status(top, "exports.status");
        Widgets.button(top, "Refresh", "exports.refresh", this::reload);
        Widgets.button(top, "Export Checkpoint…", "exports.export", this::chooseAndExport).setToolTipText(
                "Write a checkpoint as a Hugging Face folder, ONNX and GGUF under the work dir's export/");
        check = Widgets.button(top, "Check with Readers", "exports.check", this::checkSelected);
        check.setToolTipText("Load each format with transformers, onnxruntime and llama.cpp and compare with"
                + " Distillery's logits");
        score = Widgets.button(top, "Scorecard", "exports.score", this::scoreSelected);
        score.setToolTipText("Measure the selected exports in their serving runtimes: held-out loss, tokens/s, memory");
        open = Widgets.button(top, "Open Folder", "exports.open", this::openSelected);

        SashForm sash = new SashForm(parent, SWT.VERTICAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        exports = Widgets.table(sash, SWT.MULTI, "exports.table", "Export:110", "Format:55", "Dtype:50", "Size:80r",
                "Held-out loss:90r", "Retained:70r", "Gen tok/s:75r", "Run:250", "Step:55r", "Model:120", "Folder:300");
        exports.addListener(SWT.Selection, e -> selected());
        kept = new KeptSelection(part, exports, "selected", d -> ((Export.Part) ((Object[]) d)[1]).path().toString());
        SashForm bottom = new SashForm(sash, SWT.HORIZONTAL);
        provenance = Widgets.table(bottom, SWT.NONE, "exports.provenance", "Provenance:230", "Value:330");
        checks = Widgets.table(bottom, SWT.NONE, "exports.checks", "Format:55", "Reader:210", "Result:55",
                "Detail:420");
        bottom.setWeights(2, 3);
        sash.setWeights(1, 1);
        reload();
    }

    void reload() {
        Path root = settings.get().workDir().resolve("export");
        status.setText("Listing exports in " + root + " …");
        EngineQuery engine = new EngineQuery(settings.get(), 120);
        EngineQueryJob.start("Distillery: list exports", exports, () -> Export.list(engine, root), list -> {
            String keep = kept.wanted();
            exports.removeAll();
            int formats = 0;
            for (Export e : list) {
                for (Export.Part p : e.formats()) {
                    formats++;
                    Widgets.row(exports, new Object[] {e, p}, e.name(), p.format(),
                            p.get("dtype").isEmpty() ? "-" : p.get("dtype"), size(p.bytes()),
                            p.score() == null ? "" : String.format("%.4f", p.score().loss()),
                            p.score() == null ? "" : String.format("%.1f%%", 100 * p.score().qualityRetained()),
                            p.score() == null ? "" : String.format("%,.0f", p.score().generateTokensPerS()),
                            p.problem() != null ? p.problem() : p.get("run_id"), p.get("step"),
                            p.get("model.n_layer").isEmpty() ? "" : p.get("model.n_layer") + " x " + p.get("model.n_embd")
                                    + ", vocab " + p.get("model.vocab_size"), p.path().toString());
                }
            }
            status.setText(list.size() + " exports (" + formats + " formats) in " + root);
            if (!kept.select(keep) && exports.getItemCount() > 0) {
                exports.select(0);
            }
            selected();
        }, message -> status.setText("Exports: " + message));
    }

    private void chooseAndExport() {
        FileDialog d = new FileDialog(exports.getShell(), SWT.OPEN);
        d.setText("Export Checkpoint");
        d.setFilterExtensions(new String[] {"*.ckpt", "*"});
        d.setFilterPath(settings.get().workDir().toString());
        String chosen = d.open();
        if (chosen != null) {
            export(Path.of(chosen));
        }
    }

    /**
     * Exports {@code checkpoint} in every format to {@code <work>/export/<name>}, named after the
     * checkpoint's folder (a train or distill output), replacing an earlier export of it.
     */
    public void export(Path checkpoint) {
        Path parent = checkpoint.toAbsolutePath().getParent();
        String name = parent == null || parent.getFileName() == null ? "export" : parent.getFileName().toString();
        Path out = settings.get().workDir().resolve("export").resolve(name);
        status.setText("Exporting " + checkpoint + " to " + out + " …");
        EngineQuery engine = new EngineQuery(settings.get(), 600);
        EngineQueryJob.start("Distillery: export " + name, exports, () -> engine.run("export", checkpoint.toString(),
                "--format", "hf,onnx,gguf", "--out", out.toString(), "--overwrite"), a -> {
                    if (a.exitCode() != 0) {
                        status.setText("Export " + name + ": " + a.error());
                    } else {
                        reload();
                    }
                }, message -> status.setText("Export " + name + ": " + message));
    }

    private Object[] selection() {
        TableItem[] sel = exports.getSelection();
        return sel.length == 0 ? null : (Object[]) sel[0].getData();
    }

    private void selected() {
        Object[] sel = selection();
        check.setEnabled(sel != null);
        open.setEnabled(sel != null);
        score.setEnabled(sel != null);
        provenance.removeAll();
        if (sel == null) {
            return;
        }
        Export.Part p = (Export.Part) sel[1];
        for (Map.Entry<String, String> e : p.provenance().entrySet()) {
            Widgets.row(provenance, e, e.getKey().substring(Export.PREFIX.length()), e.getValue());
        }
        Widgets.row(provenance, null, "file", p.file().toString());
        Export.Score s = p.score();
        if (s != null) { // how the scorecard line was measured
            Widgets.row(provenance, null, "scorecard.runtime", s.runtime() + ", " + s.threads() + " threads");
            Widgets.row(provenance, null, "scorecard.prompt_tokens_per_s", String.format("%,.0f", s.promptTokensPerS()));
            Widgets.row(provenance, null, "scorecard.peak_memory", size(s.peakRssBytes()));
            Widgets.row(provenance, null, "scorecard.quality_retained_against", s.reference());
        }
    }

    private void checkSelected() {
        Object[] sel = selection();
        if (sel == null) {
            return;
        }
        Export e = (Export) sel[0];
        check.setEnabled(false);
        checks.removeAll();
        status.setText("Checking " + e.path() + " with transformers, onnxruntime and llama.cpp …");
        EngineQuery engine = new EngineQuery(settings.get(), 600);
        EngineQueryJob.start("Distillery: check export " + e.name(), checks, () -> ExportCheck.run(engine, e.path()),
                c -> {
                    for (ExportCheck.Result r : c.results()) {
                        TableItem item = Widgets.row(checks, r, r.format(), r.reader(), r.ok() ? "ok" : "FAILED",
                                r.detail());
                        item.setForeground(checks.getDisplay().getSystemColor(r.ok() ? SWT.COLOR_DARK_GREEN
                                : SWT.COLOR_RED));
                    }
                    status.setText(e.name() + ": " + (c.ok() ? "every reader agrees" : "a reader disagrees or failed")
                            + " (against the " + c.reference() + ")");
                    check.setEnabled(true);
                }, message -> {
                    status.setText("Check " + e.name() + ": " + message);
                    check.setEnabled(true);
                });
    }

    /**
     * Runs {@code distillery scorecard} on the selected formats, on the prep with their tokenizer, as an Eclipse
     * {@link Job} whose progress is a unit per export (the engine's stage events); the list is read again after.
     */
    void scoreSelected() {
        List<Export.Part> chosen = new ArrayList<>();
        for (TableItem item : exports.getSelection()) {
            chosen.add((Export.Part) ((Object[]) item.getData())[1]);
        }
        if (chosen.isEmpty()) {
            return;
        }
        Path prep;
        try {
            prep = ScorecardRun.prepFor(settings.get().workDir().resolve("prep"), chosen);
        } catch (IllegalArgumentException e) {
            status.setText("Scorecard: " + e.getMessage());
            return;
        }
        score.setEnabled(false);
        status.setText("Scorecard of " + chosen.size() + " exports on " + prep.getFileName() + " …");
        EngineQuery engine = new EngineQuery(settings.get(), 3600);
        Job job = Job.create("Distillery: scorecard of " + chosen.size() + " exports", monitor -> {
            SubMonitor progress = SubMonitor.convert(monitor, chosen.size());
            EngineQuery.Answer a;
            try {
                a = ScorecardRun.run(engine, chosen, prep, (i, n, folder) -> {
                    progress.subTask(folder);
                    progress.worked(1);
                    ui(() -> status.setText("Scorecard: measuring " + i + "/" + n + " " + Path.of(folder).getFileName()
                            + " …"));
                });
            } catch (RuntimeException e) {
                ui(() -> {
                    status.setText("Scorecard: " + e.getMessage());
                    score.setEnabled(true);
                });
                return Status.error(e.getMessage(), e);
            }
            ui(() -> {
                score.setEnabled(true);
                if (a.exitCode() != 0) {
                    status.setText("Scorecard: " + a.error());
                } else {
                    reload();
                }
            });
            return a.exitCode() == 0 ? Status.OK_STATUS : Status.error("scorecard: " + a.error());
        });
        job.setUser(true);
        job.schedule();
    }

    /** Runs {@code r} on the display thread unless the view was closed. */
    private void ui(Runnable r) {
        if (!exports.isDisposed()) {
            exports.getDisplay().asyncExec(() -> {
                if (!exports.isDisposed()) {
                    r.run();
                }
            });
        }
    }

    private void openSelected() {
        Object[] sel = selection();
        if (sel == null) {
            return;
        }
        Path dir = ((Export.Part) sel[1]).path();
        if (!Program.launch(dir.toString())) {
            MessageDialog.openInformation(exports.getShell(), "Open Folder", "No file manager is registered for"
                    + " folders on this desktop. The export is at\n" + dir);
        }
    }

    private static String size(long bytes) {
        return bytes >= 1 << 20 ? String.format(Locale.ROOT, "%.1f MB", bytes / 1048576.0)
                : String.format(Locale.ROOT, "%.1f KB", bytes / 1024.0);
    }
}
