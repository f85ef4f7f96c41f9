package org.distillery.workbench;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.distillery.workbench.core.engine.EngineCommand;
import org.distillery.workbench.core.engine.EngineProcess;
import org.distillery.workbench.core.engine.JobProgress;
import org.eclipse.core.runtime.IProgressMonitor;
import org.eclipse.core.runtime.IStatus;
import org.eclipse.core.runtime.Status;
import org.eclipse.core.runtime.jobs.Job;

/**
 * An engine job run as an Eclipse {@link Job}: the {@code distillery} process, its progress events fed
 * to {@link JobProgress} and from there to the monitor, and Cancel as a graceful stop (SIGTERM, so a
 * training run checkpoints and can be resumed) followed by a kill after {@link #GRACE}. The job's thread
 * only waits for the process; the process's reader threads drive everything else.
 */
public final class DistilleryJob extends Job {
    static final Duration GRACE = Duration.ofSeconds(60);
    private static final int TICKS = 1000;

    private final EngineCommand command;
    private final JobProgress progress;
    private volatile EngineProcess process;
    private final AtomicBoolean stopping = new AtomicBoolean();

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
        progress.observe(new MonitorFeed(monitor));
        progress.console("$ " + command.display(), false);
        EngineProcess p;
        try {
            p = EngineProcess.start(command, progress);
        } catch (RuntimeException e) {
            progress.console("error: " + e.getMessage(), true);
            progress.exited(-1, false);
            monitor.done();
            return Status.error(e.getMessage(), e);
        }
        process = p;
        if (monitor.isCanceled()) { // cancelled while it started: canceling() found no process to stop
            stop(p);
        }
        try {
            int status = p.waitFor();
            progress.exited(status, p.stopRequested());
            if (p.stopRequested()) {
                return Status.CANCEL_STATUS;
            }
            return status == 0 ? Status.OK_STATUS : Status.error(getName() + " failed: " + progress.failure());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Status.CANCEL_STATUS;
        } finally {
            monitor.done();
        }
    }

    /** Called by {@link #cancel()} while the job runs. */
    @Override
    protected void canceling() {
        EngineProcess p = process;
        if (p != null) {
            stop(p);
        }
    }

    private void stop(EngineProcess p) {
        if (!stopping.compareAndSet(false, true)) {
            return;
        }
        progress.console("Cancel: SIGTERM (a training job checkpoints and stops; killed after " + GRACE.toSeconds()
                + " s)", true);
        Thread stopper = new Thread(() -> {
            try {
                if (p.stop(GRACE)) {
                    progress.console("killed: no stop within " + GRACE.toSeconds() + " s", true);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "distillery-stop");
        stopper.setDaemon(true);
        stopper.start();
    }

    /** The job's stage and progress, shown by the monitor as they change. */
    private static final class MonitorFeed implements JobProgress.Observer {
        private final IProgressMonitor monitor;
        private String stage = "";
        private int reported;

        MonitorFeed(IProgressMonitor monitor) {
            this.monitor = monitor;
        }

        @Override
        public synchronized void changed(JobProgress job, JobProgress.Change change) {
            if (change != JobProgress.Change.PROGRESS && change != JobProgress.Change.STATE) {
                return;
            }
            if (!job.stage().equals(stage)) {
                stage = job.stage();
                monitor.subTask(stage);
            }
            int ticks = (int) Math.round(Math.max(0, job.fraction()) * TICKS);
            if (ticks > reported) {
                monitor.worked(ticks - reported);
                reported = ticks;
            }
        }
    }
}
