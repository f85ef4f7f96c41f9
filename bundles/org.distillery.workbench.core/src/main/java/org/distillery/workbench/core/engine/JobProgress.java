package org.distillery.workbench.core.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.distillery.core.progress.ProgressEvent;

/**
 * What is known about one launched job, folded from its events and output: state, stage, progress,
 * the run it announced and that run's live metric curves, and the last {@value #CONSOLE_LINES} console
 * lines. Written by the process's reader threads, read by the UI: every method is synchronized and
 * readers get copies. {@link Observer}s hear of each change after it is made (outside the lock), on the
 * thread that made it: the workbench turns them into events for its views.
 */
public final class JobProgress implements EngineProcess.Listener {
    public static final int CONSOLE_LINES = 5000;

    /** Where a job is in its life. */
    public enum State { STARTING, RUNNING, FINISHED, FAILED, CANCELLED }

    /** What changed: the views each redraw what shows it. */
    public enum Change {
        /** The job started or ended ({@link #state()}). */
        STATE,
        /** A stage began or its progress moved. */
        PROGRESS,
        /** The job announced its tracked run. */
        RUN,
        /** A metric arrived. */
        METRIC,
        /** A console line arrived. */
        CONSOLE
    }

    /** Hears of changes to a job. */
    public interface Observer {
        void changed(JobProgress job, Change change);
    }

    private final List<Observer> observers = new CopyOnWriteArrayList<>();

    private final JobLaunch launch;
    private final Deque<String> console = new ArrayDeque<>();
    private final Map<String, SortedMap<Long, Double>> metrics = new TreeMap<>();
    private final Map<String, Double> figures = new TreeMap<>();
    private State state = State.STARTING;
    private String stage = "";
    private double fraction = -1;
    private String progressText = "";
    private String runId;
    private String experiment;
    private String output;
    private String failure;
    private int ranks;
    private int attempt;
    private String application;
    private String master;
    private String sparkUi;
    private int executors;
    private long consoleCount;
    private long metricEvents;

    public JobProgress(JobLaunch launch) {
        this.launch = launch;
    }

    public JobLaunch launch() {
        return launch;
    }

    public void observe(Observer observer) {
        observers.add(observer);
    }

    private void tell(Change change) {
        for (Observer o : observers) {
            o.changed(this, change);
        }
    }

    @Override
    public void event(ProgressEvent e) {
        boolean started;
        synchronized (this) {
            started = state == State.STARTING;
            if (started) {
                state = State.RUNNING;
            }
            if (e instanceof ProgressEvent.Stage s) {
                stage = s.stage() + " (" + s.index() + "/" + s.stages() + ")";
                fraction = -1;
                progressText = "";
            } else if (e instanceof ProgressEvent.Progress p) {
                fraction = p.fraction();
                progressText = p.done() + (p.total() > 0 ? "/" + p.total() : "") + (p.unit() != null ? " " + p.unit() : "");
            } else if (e instanceof ProgressEvent.Run r) {
                runId = r.run();
                experiment = r.experiment();
            } else if (e instanceof ProgressEvent.Metric m) {
                metricEvents++;
                figures.put(m.name(), m.value());
                if (m.step() != null) {
                    metrics.computeIfAbsent(m.name(), k -> new TreeMap<>()).put(m.step(), m.value());
                }
            } else if (e instanceof ProgressEvent.Ranks r) {
                ranks = r.ranks();
                attempt = r.attempt();
            } else if (e instanceof ProgressEvent.Cluster c) {
                application = c.application();
                master = c.master();
                sparkUi = c.ui();
                executors = c.executors();
            } else if (e instanceof ProgressEvent.Done d) {
                output = d.output();
            } else if (e instanceof ProgressEvent.Failed f) {
                failure = f.message();
            }
        }
        if (started) {
            tell(Change.STATE);
        }
        tell(e instanceof ProgressEvent.Run ? Change.RUN : e instanceof ProgressEvent.Metric ? Change.METRIC
                : Change.PROGRESS);
    }

    @Override
    public void console(String line, boolean error) {
        synchronized (this) {
            console.addLast(line);
            consoleCount++;
            if (console.size() > CONSOLE_LINES) {
                console.removeFirst();
            }
            if (error && line.startsWith("error: ") && failure == null) {
                failure = line.substring("error: ".length());
            }
        }
        tell(Change.CONSOLE);
    }

    /** The process ended with {@code status}; {@code cancelled} when the user stopped it. */
    public void exited(int status, boolean cancelled) {
        synchronized (this) {
            state = cancelled ? State.CANCELLED : status == 0 ? State.FINISHED : State.FAILED;
            if (state == State.FAILED && failure == null) {
                failure = "exit status " + status;
            }
            if (state == State.FINISHED) {
                fraction = 1;
            }
        }
        tell(Change.STATE);
    }

    /** How many metric events arrived so far, with a step or without. */
    public synchronized long metricEvents() {
        return metricEvents;
    }

    public synchronized State state() {
        return state;
    }

    public synchronized boolean ended() {
        return state == State.FINISHED || state == State.FAILED || state == State.CANCELLED;
    }

    /** The current stage, {@code train (2/2)}; empty before the first. */
    public synchronized String stage() {
        return stage;
    }

    /** Progress within the stage in [0, 1], or -1 when unknown. */
    public synchronized double fraction() {
        return fraction;
    }

    /** {@code 120/300 steps}. */
    public synchronized String progressText() {
        return progressText;
    }

    /** The id the job's tracked run has in the local run store; null until announced (or for untracked jobs). */
    public synchronized String runId() {
        return runId;
    }

    public synchronized String experiment() {
        return experiment;
    }

    /**
     * The ranks of a distributed run once they formed their ring: {@code 2}, or {@code 2 (attempt 2)} after Spark
     * ran the stage again; empty for a job in one process.
     */
    public synchronized String ranksText() {
        return ranks == 0 ? "" : ranks + (attempt > 0 ? " (attempt " + (attempt + 1) + ")" : "");
    }

    /** What a finished job wrote. */
    /** The job's Spark application id, or null before it announces one (or for a job without Spark). */
    public synchronized String application() {
        return application;
    }

    /** The master its application runs on, or null. */
    public synchronized String master() {
        return master;
    }

    /** The application's web UI, or null (none announced, or the UI is off, as on local masters). */
    public synchronized String sparkUi() {
        return sparkUi;
    }

    /** The executors column: their number on a cluster, "local" on a local master, "" before an application. */
    public synchronized String executorsText() {
        if (application == null) {
            return "";
        }
        return master != null && master.startsWith("local") ? "local" : String.valueOf(executors);
    }

    public synchronized String output() {
        return output;
    }

    /** Why the job failed (its failed event or its error line), or null. */
    public synchronized String failure() {
        return failure;
    }

    /** The curves received so far, by metric name (copies). */
    public synchronized Map<String, SortedMap<Long, Double>> metrics() {
        Map<String, SortedMap<Long, Double>> copy = new TreeMap<>();
        metrics.forEach((k, v) -> copy.put(k, new TreeMap<>(v)));
        return copy;
    }

    /** The last value of every metric the job reported, curve or not (prep's counts, for one). */
    public synchronized Map<String, Double> figures() {
        return new TreeMap<>(figures);
    }

    /** Console lines from number {@code from} on (0 is the first line ever), for incremental display. */
    public synchronized List<String> consoleSince(long from) {
        long first = consoleCount - console.size();
        List<String> out = new ArrayList<>();
        long i = first;
        for (String line : console) {
            if (i++ >= from) {
                out.add(line);
            }
        }
        return out;
    }

    public synchronized long consoleCount() {
        return consoleCount;
    }
}
