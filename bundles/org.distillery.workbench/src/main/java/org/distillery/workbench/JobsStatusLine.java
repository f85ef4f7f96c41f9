package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.util.List;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.di.UIEventTopic;
import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.layout.GridLayout;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;

/**
 * The window's status line: the jobs running now, each with its stage and progress ("2 jobs running: train
 * t.yaml 40%; prep p.yaml dedup"), or that none is. Follows the jobs' events ({@link JobTopics}).
 */
public class JobsStatusLine {
    @Inject
    LaunchedJobs jobs;

    private Label label;

    @PostConstruct
    public void create(Composite parent) {
        Composite c = new Composite(parent, SWT.NONE);
        GridLayout layout = new GridLayout(1, false);
        layout.marginHeight = 2;
        c.setLayout(layout);
        label = Widgets.named(new Label(c, SWT.NONE), "status.jobs");
        GridData d = new GridData(SWT.FILL, SWT.CENTER, true, false);
        d.widthHint = 900;
        label.setLayoutData(d);
        show();
    }

    @Inject
    @Optional
    void jobChanged(@UIEventTopic(JobTopics.ALL) DistilleryJob job) {
        show();
    }

    private void show() {
        if (label == null || label.isDisposed()) {
            return;
        }
        List<DistilleryJob> running = jobs.all().stream().filter(j -> !j.progress().ended()).toList();
        StringBuilder s = new StringBuilder(running.isEmpty() ? "No jobs running"
                : running.size() + (running.size() == 1 ? " job running: " : " jobs running: "));
        for (int i = 0; i < running.size(); i++) {
            var p = running.get(i).progress();
            s.append(i == 0 ? "" : "; ").append(p.launch().label());
            if (p.fraction() >= 0) {
                s.append(' ').append(Math.round(p.fraction() * 100)).append('%');
            } else if (!p.stage().isEmpty()) {
                s.append(' ').append(p.stage());
            }
        }
        if (!s.toString().equals(label.getText())) {
            label.setText(s.toString());
            label.setToolTipText(s.toString());
        }
    }
}
