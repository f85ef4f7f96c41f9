package org.distillery.workbench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.workbench.core.engine.JobLaunch;
import org.distillery.workbench.core.engine.SparkCluster;
import org.eclipse.jface.dialogs.IDialogConstants;
import org.eclipse.jface.dialogs.TitleAreaDialog;
import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.layout.GridLayout;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Control;
import org.eclipse.swt.widgets.FileDialog;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Shell;
import org.eclipse.swt.widgets.Text;

/**
 * Run a spec as a Distillery job: the spec, the job kind (guessed from the spec), a Spark master, the ranks of a
 * distributed train or distill run, resume.
 */
public class LaunchDialog extends TitleAreaDialog {
    private final Path initialSpec;
    private Text spec;
    private Combo kind;
    private Combo master;
    private final List<SparkCluster> clusters = WorkbenchSettings.clusters();
    private org.eclipse.swt.widgets.Spinner ranks;
    private Button resume;
    private Button overwrite;
    private JobLaunch result;

    public LaunchDialog(Shell parent, Path initialSpec) {
        super(parent);
        this.initialSpec = initialSpec;
    }

    @Override
    protected void configureShell(Shell shell) {
        super.configureShell(shell);
        shell.setText("Run Distillery Job");
    }

    @Override
    protected Control createDialogArea(Composite parent) {
        setTitle("Run a spec as a Distillery job");
        setMessage("The engine's CLI runs it, as `distillery <kind> <spec>` would.");
        Composite area = (Composite) super.createDialogArea(parent);
        Composite c = new Composite(area, SWT.NONE);
        c.setLayout(new GridLayout(3, false));
        c.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        new Label(c, SWT.NONE).setText("Spec:");
        spec = Widgets.named(new Text(c, SWT.BORDER), "launch.spec");
        spec.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false));
        Button browse = new Button(c, SWT.PUSH);
        browse.setText("Browse…");
        browse.addListener(SWT.Selection, e -> {
            FileDialog fd = new FileDialog(getShell(), SWT.OPEN);
            fd.setFilterExtensions(new String[] {"*.yaml;*.yml", "*"});
            String f = fd.open();
            if (f != null) {
                spec.setText(f);
            }
        });
        new Label(c, SWT.NONE).setText("Job:");
        kind = Widgets.named(new Combo(c, SWT.READ_ONLY), "launch.kind");
        for (JobLaunch.Kind k : JobLaunch.Kind.values()) {
            kind.add(k.command() + (k.spark() ? " (Spark)" : ""));
        }
        kind.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false, 2, 1));
        new Label(c, SWT.NONE).setText("Spark master:");
        master = Widgets.named(new Combo(c, SWT.DROP_DOWN), "launch.master");
        master.add("");
        master.add("local[*]");
        clusters.forEach(k -> master.add(k.label()));
        master.setToolTipText("empty: the preference's, else the spec's (local[*]); a cluster from Distillery >"
                + " Preferences, or a master URL typed in");
        master.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false, 2, 1));
        new Label(c, SWT.NONE).setText("Ranks:");
        ranks = Widgets.named(new org.eclipse.swt.widgets.Spinner(c, SWT.BORDER), "launch.ranks");
        ranks.setValues(0, 0, 4096, 0, 1, 4);
        ranks.setToolTipText("train and distill: N > 1 runs over N ranks, one Spark task each, on the master above"
                + " (0: the spec's distributed.ranks, else one process)");
        ranks.setLayoutData(new GridData(SWT.LEFT, SWT.CENTER, false, false, 2, 1));
        ranks.addListener(SWT.Modify, e -> validate());
        resume = Widgets.named(new Button(c, SWT.CHECK), "launch.resume");
        resume.setText("Resume from the newest checkpoint");
        resume.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false, 3, 1));
        overwrite = Widgets.named(new Button(c, SWT.CHECK), "launch.overwrite");
        overwrite.setText("Replace the existing output folder (prep, teacher-logits)");
        overwrite.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false, 3, 1));
        overwrite.addListener(SWT.Selection, e -> validate());
        spec.addListener(SWT.Modify, e -> {
            Path p = Path.of(spec.getText().strip());
            if (Files.isRegularFile(p)) {
                try {
                    JobLaunch.guess(p).ifPresent(k -> kind.select(k.ordinal()));
                } catch (RuntimeException ex) {
                    setErrorMessage(ex.getMessage());
                }
            }
            validate();
        });
        kind.addListener(SWT.Selection, e -> validate());
        resume.addListener(SWT.Selection, e -> validate());
        if (initialSpec != null) {
            spec.setText(initialSpec.toString());
        }
        return area;
    }

    @Override
    protected void createButtonsForButtonBar(Composite parent) {
        Widgets.named(createButton(parent, IDialogConstants.OK_ID, "Run", true), "launch.run");
        createButton(parent, IDialogConstants.CANCEL_ID, IDialogConstants.CANCEL_LABEL, false);
        validate();
    }

    private void validate() {
        Button ok = getButton(IDialogConstants.OK_ID);
        if (ok == null) {
            return;
        }
        String problem = null;
        Path p = Path.of(spec.getText().strip());
        if (spec.getText().isBlank()) {
            problem = "Choose a spec file (YAML).";
        } else if (!Files.isRegularFile(p)) {
            problem = "spec: " + p + " is no file";
        } else if (kind.getSelectionIndex() < 0) {
            problem = "Job: " + p.getFileName() + " looks like no known spec; choose the kind of job";
        } else if (resume.getSelection() && !JobLaunch.Kind.values()[kind.getSelectionIndex()].resumable()) {
            problem = "Resume: only train and distill jobs resume";
        } else if (overwrite.getSelection() && !JobLaunch.Kind.values()[kind.getSelectionIndex()].spark()) {
            problem = "Replace: only prep and teacher-logits jobs replace their output; training jobs resume";
        } else if (ranks.getSelection() > 0 && !JobLaunch.Kind.values()[kind.getSelectionIndex()].distributable()) {
            problem = "Ranks: only train and distill jobs run over ranks (leave it at 0)";
        }
        setErrorMessage(problem);
        ok.setEnabled(problem == null);
    }

    @Override
    protected void okPressed() {
        JobLaunch.Kind k = JobLaunch.Kind.values()[kind.getSelectionIndex()];
        Path file = Path.of(spec.getText().strip());
        // on a named cluster with a work folder, the job writes (and a resume reads its checkpoints) there
        String out = SparkCluster.named(master.getText(), clusters).map(c -> c.outFor(k, JobLaunch.specName(file)))
                .orElse("");
        result = new JobLaunch(k, file, resume.getSelection(), SparkCluster.masterOf(master.getText(), clusters),
                overwrite.getSelection(), ranks.getSelection(), out);
        super.okPressed();
    }

    /** The launch the user confirmed, or null. */
    public JobLaunch result() {
        return result;
    }
}
