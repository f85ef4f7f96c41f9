package org.distillery.workbench;

import java.nio.file.Path;
import java.util.List;
import org.distillery.workbench.core.engine.EngineSettings;
import org.eclipse.jface.dialogs.IDialogConstants;
import org.eclipse.jface.dialogs.TitleAreaDialog;
import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.layout.GridLayout;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Control;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Shell;
import org.eclipse.swt.widgets.Text;

/** The engine settings: where the engine is, its work folder, MLflow, Spark, the JDK and ND4J backend. */
public class PreferencesDialog extends TitleAreaDialog {
    private EngineSettings settings;
    private Text engine;
    private Text workDir;
    private Text tracking;
    private Text master;
    private Text javaHome;
    private Combo backend;

    public PreferencesDialog(Shell parent, EngineSettings settings) {
        super(parent);
        this.settings = settings;
    }

    @Override
    protected void configureShell(Shell shell) {
        super.configureShell(shell);
        shell.setText("Distillery Preferences");
    }

    @Override
    protected Control createDialogArea(Composite parent) {
        setTitle("Engine");
        setMessage("The workbench runs the engine's CLI; these are the options it passes.");
        Composite area = (Composite) super.createDialogArea(parent);
        Composite c = new Composite(area, SWT.NONE);
        c.setLayout(new GridLayout(2, false));
        c.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        engine = field(c, "Engine (checkout or launcher):", settings.engine().toString(), "prefs.engine");
        workDir = field(c, "Work directory:", settings.workDir().toString(), "prefs.workDir");
        tracking = field(c, "MLflow tracking URI:", settings.trackingUri(), "prefs.trackingUri");
        tracking.setMessage("empty: the local run store");
        master = field(c, "Spark master:", settings.sparkMaster(), "prefs.sparkMaster");
        master.setMessage("empty: each spec's own (local[*])");
        javaHome = field(c, "JDK for the engine (JAVA_HOME):", settings.javaHome() == null ? "" : settings.javaHome()
                .toString(), "prefs.javaHome");
        javaHome.setMessage("empty: the environment's java (17)");
        new Label(c, SWT.NONE).setText("ND4J backend:");
        backend = Widgets.named(new Combo(c, SWT.READ_ONLY), "prefs.backend");
        for (EngineSettings.Backend b : EngineSettings.Backend.values()) {
            backend.add(b.name());
        }
        backend.select(settings.backend().ordinal());
        return area;
    }

    private static Text field(Composite c, String label, String value, String name) {
        new Label(c, SWT.NONE).setText(label);
        Text t = Widgets.named(new Text(c, SWT.BORDER), name);
        t.setText(value);
        GridData d = new GridData(SWT.FILL, SWT.CENTER, true, false);
        d.widthHint = 420;
        t.setLayoutData(d);
        return t;
    }

    @Override
    protected void okPressed() {
        EngineSettings edited;
        try {
            edited = new EngineSettings(Path.of(engine.getText().strip()), Path.of(workDir.getText().strip()),
                    tracking.getText(), master.getText(), javaHome.getText().isBlank() ? null
                    : Path.of(javaHome.getText().strip()), EngineSettings.Backend.values()[backend.getSelectionIndex()]);
        } catch (java.nio.file.InvalidPathException e) {
            setErrorMessage(e.getMessage());
            return;
        }
        List<String> problems = edited.validate();
        if (!problems.isEmpty()) {
            setErrorMessage(String.join("\n", problems));
            return;
        }
        settings = edited;
        super.okPressed();
    }

    @Override
    protected void createButtonsForButtonBar(Composite parent) {
        createButton(parent, IDialogConstants.OK_ID, "Apply and Close", true);
        createButton(parent, IDialogConstants.CANCEL_ID, IDialogConstants.CANCEL_LABEL, false);
    }

    public EngineSettings settings() {
        return settings;
    }
}
