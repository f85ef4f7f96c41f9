package org.distillery.workbench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.EngineSettings;
import org.distillery.workbench.core.engine.SparkCluster;
import org.eclipse.jface.dialogs.IDialogConstants;
import org.eclipse.jface.dialogs.TitleAreaDialog;
import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.layout.GridLayout;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Control;
import org.eclipse.swt.widgets.Group;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Shell;
import org.eclipse.swt.widgets.Table;
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
    private final List<SparkCluster> clusters = new ArrayList<>(WorkbenchSettings.clusters());
    private Table clusterTable;

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
        clusters(area);
        return area;
    }

    /**
     * The Spark clusters the launch dialog offers by name: a table, and a row of fields to add one (Add) or replace
     * the one of the same name; Remove drops the selected one.
     */
    private void clusters(Composite area) {
        Group g = new Group(area, SWT.NONE);
        g.setText("Spark clusters (offered by name when launching)");
        g.setLayout(new GridLayout(4, false));
        g.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        clusterTable = Widgets.table(g, SWT.SINGLE, "prefs.clusters", "Name:90", "Master:200", "Work folder:260");
        GridData td = new GridData(SWT.FILL, SWT.FILL, true, true, 4, 1);
        td.heightHint = 90;
        clusterTable.setLayoutData(td);
        Text name = Widgets.named(new Text(g, SWT.BORDER), "prefs.cluster.name");
        name.setMessage("name");
        name.setLayoutData(new GridData(90, SWT.DEFAULT));
        Text url = Widgets.named(new Text(g, SWT.BORDER), "prefs.cluster.master");
        url.setMessage("spark://host:7077");
        url.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false));
        Text folder = Widgets.named(new Text(g, SWT.BORDER), "prefs.cluster.workFolder");
        folder.setMessage("hdfs://namenode:8020/user/me/work (optional)");
        folder.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false));
        Composite buttons = new Composite(g, SWT.NONE);
        buttons.setLayout(new GridLayout(2, true));
        Widgets.button(buttons, "Add", "prefs.cluster.add", () -> {
            SparkCluster c = new SparkCluster(name.getText(), url.getText(), folder.getText());
            List<SparkCluster> next = new ArrayList<>(clusters);
            next.removeIf(k -> k.name().equals(c.name()));
            next.add(c);
            List<String> problems = SparkCluster.problems(next);
            if (!problems.isEmpty()) {
                setErrorMessage(String.join("\n", problems));
                return;
            }
            setErrorMessage(null);
            clusters.clear();
            clusters.addAll(next);
            showClusters();
        });
        Widgets.button(buttons, "Remove", "prefs.cluster.remove", () -> {
            int i = clusterTable.getSelectionIndex();
            if (i >= 0) {
                clusters.remove(i);
                showClusters();
            }
        });
        clusterTable.addListener(SWT.Selection, e -> {
            int i = clusterTable.getSelectionIndex();
            if (i >= 0) {
                name.setText(clusters.get(i).name());
                url.setText(clusters.get(i).master());
                folder.setText(clusters.get(i).workFolder());
            }
        });
        showClusters();
    }

    private void showClusters() {
        clusterTable.removeAll();
        for (SparkCluster c : clusters) {
            Widgets.row(clusterTable, c, c.name(), c.master(), c.workFolder());
        }
    }

    /** The clusters as edited. */
    public List<SparkCluster> clusters() {
        return List.copyOf(clusters);
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
