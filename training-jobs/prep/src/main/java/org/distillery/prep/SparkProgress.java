package org.distillery.prep;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;

/**
 * Forwards Spark's task completions as progress events of the job's current stage, so a terminal
 * bar or the workbench sees work move inside a long Spark stage. Throttled to a few events a second.
 */
final class SparkProgress extends SparkListener {
    private final String job;
    private final ProgressListener out;
    private volatile String stage = "";
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong total = new AtomicLong();
    private volatile long lastEmit;

    SparkProgress(String job, ProgressListener out) {
        this.job = job;
        this.out = out;
    }

    /** Starts counting tasks for a new stage of the job. */
    void stage(String name) {
        stage = name;
        done.set(0);
        total.set(0);
    }

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted e) {
        total.addAndGet(e.stageInfo().numTasks());
        emit(false);
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd e) {
        if (e.taskInfo().successful()) {
            done.incrementAndGet();
        }
        emit(false);
    }

    private void emit(boolean force) {
        long now = System.currentTimeMillis();
        if (force || now - lastEmit >= 250) {
            lastEmit = now;
            out.on(ProgressEvent.progress(job, stage, done.get(), Math.max(done.get(), total.get()), "tasks"));
        }
    }
}
