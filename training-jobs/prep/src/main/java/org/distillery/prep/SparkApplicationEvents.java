package org.distillery.prep;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;

/**
 * Announces a job's Spark application on its progress events ({@link ProgressEvent.Cluster}): its id, master and web
 * UI when watching starts, and again whenever an executor joins or leaves, so that a workbench can show where the job
 * runs and open its Spark UI. Stop watching before the progress listener closes.
 */
public final class SparkApplicationEvents implements AutoCloseable {
    private final SparkContext sc;
    private final String job;
    private final ProgressListener progress;
    private final Set<String> executors = ConcurrentHashMap.newKeySet();
    private final SparkListener listener;

    private SparkApplicationEvents(SparkSession spark, String job, ProgressListener progress) {
        this.sc = spark.sparkContext();
        this.job = job;
        this.progress = progress;
        this.listener = new SparkListener() {
            @Override
            public void onExecutorAdded(SparkListenerExecutorAdded e) {
                if (executors.add(e.executorId())) {
                    announce();
                }
            }

            @Override
            public void onExecutorRemoved(SparkListenerExecutorRemoved e) {
                if (executors.remove(e.executorId())) {
                    announce();
                }
            }
        };
    }

    /** Announces {@code spark}'s application as {@code job}'s, and its executors as they change. */
    public static SparkApplicationEvents watch(SparkSession spark, String job, ProgressListener progress) {
        SparkApplicationEvents w = new SparkApplicationEvents(spark, job, progress);
        w.sc.addSparkListener(w.listener);
        if (!w.sc.isLocal()) {
            // Executors that registered before the listener did. getExecutorIds is private[spark] in Scala, which
            // the bytecode leaves public; the ids are the ones the listener's events carry.
            scala.collection.Iterator<String> ids = w.sc.getExecutorIds().iterator();
            while (ids.hasNext()) {
                w.executors.add(ids.next());
            }
        }
        w.announce();
        return w;
    }

    private void announce() {
        progress.on(ProgressEvent.cluster(job, sc.applicationId(), sc.master(),
                sc.uiWebUrl().isDefined() ? sc.uiWebUrl().get() : null, sc.isLocal() ? 0 : executors.size()));
    }

    @Override
    public void close() {
        sc.removeSparkListener(listener);
    }
}
