package org.distillery.workbench;

import java.util.function.Consumer;
import java.util.function.Supplier;
import org.eclipse.core.runtime.IProgressMonitor;
import org.eclipse.core.runtime.IStatus;
import org.eclipse.core.runtime.Status;
import org.eclipse.core.runtime.jobs.Job;
import org.eclipse.swt.widgets.Control;

/**
 * A question to the engine (it starts a JVM, or Python readers) as an Eclipse {@link Job}, so the UI
 * never waits on it; the answer, or the engine's message, comes back on the widget's display thread,
 * and is dropped if the view was closed meanwhile.
 */
final class EngineQueryJob<T> extends Job {
    private final Control owner;
    private final Supplier<T> work;
    private final Consumer<T> done;
    private final Consumer<String> failed;

    private EngineQueryJob(String name, Control owner, Supplier<T> work, Consumer<T> done, Consumer<String> failed) {
        super(name);
        this.owner = owner;
        this.work = work;
        this.done = done;
        this.failed = failed;
        setSystem(false);
    }

    static <T> EngineQueryJob<T> start(String name, Control owner, Supplier<T> work, Consumer<T> done,
                                       Consumer<String> failed) {
        EngineQueryJob<T> job = new EngineQueryJob<>(name, owner, work, done, failed);
        job.schedule();
        return job;
    }

    @Override
    protected IStatus run(IProgressMonitor monitor) {
        monitor.beginTask(getName(), IProgressMonitor.UNKNOWN);
        try {
            T answer = work.get();
            deliver(() -> done.accept(answer));
        } catch (RuntimeException e) {
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            deliver(() -> failed.accept(message));
        } finally {
            monitor.done();
        }
        return Status.OK_STATUS;
    }

    private void deliver(Runnable r) {
        if (!owner.isDisposed()) {
            owner.getDisplay().asyncExec(() -> {
                if (!owner.isDisposed()) {
                    r.run();
                }
            });
        }
    }
}
