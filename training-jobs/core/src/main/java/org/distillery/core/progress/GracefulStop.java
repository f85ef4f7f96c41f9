package org.distillery.core.progress;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Turns SIGTERM (the workbench's Cancel, {@code kill}, a scheduler) into a stop at the next step
 * boundary: the JVM runs this shutdown hook, which raises the flag a job's loop polls and then waits
 * until the job has written its checkpoint and closed its run, or for {@link #GRACE_SECONDS} at most.
 * SIGKILL skips all this, and a job resumes from its last periodic checkpoint instead.
 */
public final class GracefulStop {
    /** How long the shutdown hook lets a job finish its step and write a checkpoint. */
    public static final long GRACE_SECONDS = 60;

    private static volatile boolean requested;
    private static CountDownLatch active;

    private GracefulStop() {
    }

    /**
     * A job's loop starts: from now on a SIGTERM waits for {@link #end()}. Several jobs of one command (an
     * experiment's) share the wait, so that the command, not the first job, decides when the process may go.
     */
    public static synchronized void begin() {
        if (active == null) {
            Runtime.getRuntime().addShutdownHook(new Thread(GracefulStop::onShutdown, "distillery-graceful-stop"));
        }
        if (active == null || active.getCount() == 0) {
            active = new CountDownLatch(1);
        }
    }

    /** Whether the process was asked to stop: the loop should checkpoint and leave. */
    public static boolean requested() {
        return requested;
    }

    /**
     * The command is over (stopped or not), its run closed and its last words printed: the shutdown, if there is
     * one, may go on. Called any earlier, the JVM halts while the stop's error line and the run's last
     * writes are still on their way.
     */
    public static synchronized void end() {
        if (active != null) {
            active.countDown();
        }
    }

    private static void onShutdown() {
        CountDownLatch latch;
        synchronized (GracefulStop.class) {
            latch = active;
        }
        requested = true;
        if (latch == null) {
            return;
        }
        try {
            latch.await(GRACE_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
