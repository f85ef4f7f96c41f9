package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import org.distillery.workbench.core.log.LogEntry;
import org.eclipse.core.runtime.ILogListener;
import org.eclipse.core.runtime.IStatus;
import org.eclipse.core.runtime.Platform;
import org.eclipse.e4.ui.di.UISynchronize;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.ui.basic.MPart;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.custom.StyledText;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;

/**
 * The Error Log, as in the Eclipse IDE: the platform log ({@code .metadata/.log}), where a failed job's result and
 * any plug-in's error are written, newest first; read from the file when the view opens, then entry by entry as
 * they are logged. An entry that names a file and line (an engine error: {@code spec.yaml:6: unknown field ...})
 * opens in the spec editor at that line on a double-click or Open Source.
 */
public class ErrorLogPart {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");

    @Inject
    UISynchronize ui;
    @Inject
    EPartService parts;
    @Inject
    EModelService models;
    @Inject
    MApplication app;

    private Table table;
    private StyledText detail;
    private Label status;
    private Button open;
    private final ILogListener listener = (s, plugin) -> {
        LogEntry e = entry(s);
        ui.asyncExec(() -> {
            if (!table.isDisposed()) {
                add(e);
                count();
            }
        });
    };

    @PostConstruct
    public void create(Composite parent) {
        Composite top = Widgets.bar(parent, 3);
        status = Widgets.status(top, "errorlog.status");
        open = Widgets.button(top, "Open Source", "errorlog.open", this::openSource);
        open.setToolTipText("Open the file the selected entry names, at its line");
        open.setEnabled(false);
        Widgets.button(top, "Clear", "errorlog.clear", () -> {
            table.removeAll();
            detail.setText("");
            count();
        }).setToolTipText("Empty the view (the log file keeps its entries)");
        SashForm sash = new SashForm(parent, SWT.VERTICAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        table = Widgets.table(sash, SWT.SINGLE, "errorlog.table", "Severity:70", "Time:170", "Plug-in:190",
                "Message:700");
        table.addListener(SWT.Selection, e -> selected());
        table.addListener(SWT.DefaultSelection, e -> openSource());
        detail = Widgets.named(new StyledText(sash, SWT.MULTI | SWT.WRAP | SWT.V_SCROLL | SWT.READ_ONLY | SWT.BORDER),
                "errorlog.detail");
        sash.setWeights(3, 2);
        Path file = Platform.getLogFileLocation().toFile().toPath();
        try {
            if (Files.exists(file)) {
                LogEntry.parse(Files.readString(file)).forEach(this::add);
            }
        } catch (IOException e) {
            status.setText(file + ": cannot read the log (" + e.getMessage() + ")");
        }
        Platform.addLogListener(listener);
        parent.addDisposeListener(e -> Platform.removeLogListener(listener));
        count();
    }

    /** Adds {@code e} on top: newest first. */
    private void add(LogEntry e) {
        TableItem item = new TableItem(table, SWT.NONE, 0);
        item.setText(new String[] {e.severity().name().charAt(0) + e.severity().name().substring(1).toLowerCase(),
                e.time(), e.plugin(), e.message().lines().findFirst().orElse("")});
        item.setData(e);
    }

    private void count() {
        long errors = List.of(table.getItems()).stream()
                .filter(i -> ((LogEntry) i.getData()).severity() == LogEntry.Severity.ERROR).count();
        status.setText(table.getItemCount() + " entries, " + errors + " errors, in " + Platform.getLogFileLocation());
        status.getParent().layout();
    }

    private LogEntry selectedEntry() {
        TableItem[] s = table.getSelection();
        return s.length == 1 ? (LogEntry) s[0].getData() : null;
    }

    private void selected() {
        LogEntry e = selectedEntry();
        detail.setText(e == null ? "" : e.message() + (e.stack().isEmpty() ? "" : "\n\n" + e.stack()));
        open.setEnabled(e != null && e.source().isPresent());
    }

    /** The selected entry's file in the spec editor, at the line the entry names. */
    void openSource() {
        LogEntry e = selectedEntry();
        if (e == null || e.source().isEmpty()) {
            return;
        }
        LogEntry.SourceLine at = e.source().get();
        if (!Files.isRegularFile(at.file())) {
            status.setText(at.file() + ": no such file any more");
            return;
        }
        MPart part = SpecEditorPart.open(parts, models, app, at.file());
        ((SpecEditorPart) part.getObject()).revealLine(at.line());
    }

    /** A status as the log file would give it back. */
    private static LogEntry entry(IStatus s) {
        String stack = "";
        if (s.getException() != null) {
            StringWriter w = new StringWriter();
            s.getException().printStackTrace(new PrintWriter(w));
            stack = w.toString().strip();
        }
        return new LogEntry(LocalDateTime.now().format(TIME), s.getPlugin(), LogEntry.Severity.of(s.getSeverity()),
                s.getMessage(), stack);
    }
}
