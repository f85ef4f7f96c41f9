package org.distillery.prep;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.distillery.core.DistilleryException;

/**
 * Fails a job on a cluster that never gives it an executor, instead of waiting forever. Spark itself only
 * warns ("Initial job has not accepted any resources") when no worker can hold the executors asked for,
 * or when workers cannot launch them: a batch job then hangs with no error. Once jobs have waited
 * {@code spark.distillery.executorTimeout} (120 s by default) with no executor ever registered, they are
 * cancelled with a reason that names the master and what was asked for; {@link SparkErrors} turns that
 * reason into the job's error. The watch ends at the first executor.
 */
final class ExecutorWatch extends SparkListener {
    static final String TIMEOUT = "spark.distillery.executorTimeout";

    private final SparkContext sc;
    private final long timeoutNanos;
    private final ScheduledExecutorService timer;
    private volatile boolean executorAdded;
    private long waitingSince = -1;

    private ExecutorWatch(SparkContext sc, long timeoutSeconds) {
        this.sc = sc;
        this.timeoutNanos = TimeUnit.SECONDS.toNanos(timeoutSeconds);
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "distillery-executor-watch");
            t.setDaemon(true);
            return t;
        });
    }

    /** Watches {@code sc} when its master is a cluster's (local masters run tasks in the driver). */
    static void watch(SparkContext sc) {
        if (sc.master().startsWith("local")) {
            return;
        }
        ExecutorWatch w = new ExecutorWatch(sc, sc.conf().getTimeAsSeconds(TIMEOUT, "120s"));
        sc.addSparkListener(w);
        w.timer.scheduleWithFixedDelay(w::check, 1, 1, TimeUnit.SECONDS);
    }

    @Override
    public void onExecutorAdded(SparkListenerExecutorAdded added) {
        executorAdded = true;
        timer.shutdown();
    }

    private void check() {
        if (executorAdded || sc.isStopped()) {
            timer.shutdown();
            return;
        }
        int[] active = sc.statusTracker().getActiveJobIds();
        if (active.length == 0) {
            waitingSince = -1;
            return;
        }
        long now = System.nanoTime();
        if (waitingSince < 0) {
            waitingSince = now;
        }
        if (now - waitingSince < timeoutNanos) {
            return;
        }
        // The class name leads the reason so that SparkErrors reads it back as our own error.
        String reason = DistilleryException.class.getName() + ": " + message();
        for (int job : active) {
            sc.cancelJob(job, reason);
        }
    }

    private String message() {
        String memory = sc.conf().get("spark.executor.memory", "1g");
        String cores = sc.conf().get("spark.executor.cores", "all of a worker's");
        return "no executor started on " + sc.master() + " in " + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos)
                + " s (" + TIMEOUT + "): the job asks for executors of " + memory + " memory (spark.executor.memory) and "
                + cores + " cores (spark.executor.cores), and no worker registered with the master has that much free,"
                + " or its workers fail to launch executors; see the master's web UI and the workers' logs";
    }
}
