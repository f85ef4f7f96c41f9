package org.distillery.workbench;

import java.time.Duration;
import org.distillery.workbench.core.engine.EngineCommand;
import org.distillery.workbench.core.engine.EngineProcess;
import org.distillery.workbench.core.engine.JobProgress;
import org.eclipse.core.runtime.IProgressMonitor;
import org.eclipse.core.runtime.IStatus;
import org.eclipse.core.runtime.Status;
import org.eclipse.core.runtime.jobs.Job;

/**
 * An engine job run as an Eclipse {@link Job}: the {@code distillery} process, its progress events fed
 * to the monitor and to {@link JobProgress}, and Cancel as a graceful stop (SIGTERM, so a training run
 * checkpoints and can be resumed) followed by a kill after {@link #GRACE}.
 */
public final class DistilleryJob extends Job {
    static final Duration GRACE = Duration.ofSeconds(60);
    private static final int TICKS = 1000;

    private final EngineCommand command;
    private final JobProgress progress;

    public DistilleryJob(EngineCommand command, JobProgress progress) {
        super(progress.launch().label());
        this.command = command;
        this.progress = progress;
        setUser(true);
    }

    public JobProgress progress() {
        return progress;
    }

    @Override
    protected IStatus run(IProgressMonitor monitor) {
        monitor.beginTask(getName(), TICKS);
        progress.console("$ " + command.display(), false);
        EngineProcess process;
        try {
            process = EngineProcess.start(command, progress);
        } catch (RuntimeException e) {
            progress.console("error: " + e.getMessage(), true);
            progress.exited(-1, false);
            return Status.error(e.getMessage(), e);
        }
        int reported = 0;
        String stage = "";
        try {
            while (process.isAlive()) {
                if (monitor.isCanceled() && !process.stopRequested()) {
                    progress.console("Cancel: SIGTERM (a training job checkpoints and stops; killed after "
                            + GRACE.toSeconds() + " s)", true);
                    Thread stopper = new Thread(() -> {
                        try {
                            if (process.stop(GRACE)) {
                                progress.console("killed: no stop within " + GRACE.toSeconds() + " s", true);
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }, "distillery-stop");
                    stopper.setDaemon(true);
                    stopper.start();
                }
                if (!progress.stage().equals(stage)) {
                    stage = progress.stage();
                    monitor.subTask(stage);
                }
                int ticks = (int) Math.round(Math.max(0, progress.fraction()) * TICKS);
                if (ticks > reported) {
                    monitor.worked(ticks - reported);
                    reported = ticks;
                }
                Thread.sleep(100);
            }
            int status = process.waitFor();
            progress.exited(status, process.stopRequested());
            if (process.stopRequested()) {
                return Status.CANCEL_STATUS;
            }
            return status == 0 ? Status.OK_STATUS
                    : Status.error(getName() + " failed: " + progress.failure());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Status.CANCEL_STATUS;
        } finally {
            monitor.done();
        }
    }
}
