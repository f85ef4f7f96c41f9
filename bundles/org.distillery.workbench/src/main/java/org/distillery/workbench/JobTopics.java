package org.distillery.workbench;

import org.distillery.workbench.core.engine.JobProgress;

/**
 * The {@code IEventBroker} topics a launched job is published on; the event's data is the
 * {@link DistilleryJob}. Views subscribe with {@code @UIEventTopic} and read the job's current
 * {@link JobProgress}: an event says what changed, the job says what it is now.
 */
public final class JobTopics {
    /** Every topic below. */
    public static final String ALL = "distillery/job/*";
    public static final String LAUNCHED = "distillery/job/launched";
    /** Started, or ended (finished, failed, cancelled). */
    public static final String STATE = "distillery/job/state";
    /** A stage began or its progress moved. */
    public static final String PROGRESS = "distillery/job/progress";
    /** The job announced its tracked run. */
    public static final String RUN = "distillery/job/run";
    /** Metrics arrived (a curve grew). */
    public static final String METRIC = "distillery/job/metric";
    /** Console lines arrived. */
    public static final String CONSOLE = "distillery/job/console";

    private JobTopics() {
    }

    static String of(JobProgress.Change change) {
        return switch (change) {
            case STATE -> STATE;
            case PROGRESS -> PROGRESS;
            case RUN -> RUN;
            case METRIC -> METRIC;
            case CONSOLE -> CONSOLE;
        };
    }
}
