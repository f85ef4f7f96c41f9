package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.distillery.workbench.core.engine.JobLaunch;
import org.distillery.workbench.core.engine.JobProgress;
import org.eclipse.e4.core.di.annotations.Creatable;
import org.eclipse.e4.core.services.events.IEventBroker;
import org.eclipse.e4.ui.di.UISynchronize;
import org.eclipse.e4.ui.model.application.MApplication;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceRegistration;

/**
 * The jobs launched in this session, newest last. Each job's changes are published on the application's
 * {@link IEventBroker} ({@link JobTopics}), which the Jobs and Runs views subscribe to. It is also an
 * OSGi service while the workbench runs, so the debug platform's launch delegate can start jobs.
 */
@Creatable
@Singleton
public class LaunchedJobs {
    private final List<DistilleryJob> jobs = new ArrayList<>();
    private ServiceRegistration<LaunchedJobs> registration;

    @Inject
    WorkbenchSettings settings;
    @Inject
    MApplication application;

    private IEventBroker broker;
    private UISynchronize ui;

    @PostConstruct
    void register() {
        // The application's own broker and UI thread: this singleton outlives the part that first asked for it.
        broker = application.getContext().get(IEventBroker.class);
        ui = application.getContext().get(UISynchronize.class);
        registration = FrameworkUtil.getBundle(LaunchedJobs.class).getBundleContext()
                .registerService(LaunchedJobs.class, this, null);
    }

    @PreDestroy
    void unregister() {
        if (registration != null) {
            registration.unregister();
        }
    }

    /** Starts {@code launch} with the current engine settings; throws if they are not usable. */
    public synchronized DistilleryJob launch(JobLaunch launch) {
        var s = settings.get();
        List<String> problems = s.validate();
        if (!problems.isEmpty()) {
            throw new IllegalStateException("the engine settings need fixing (Distillery > Preferences): "
                    + String.join("; ", problems));
        }
        DistilleryJob job = new DistilleryJob(launch.command(s), new JobProgress(launch));
        Map<JobProgress.Change, UiCoalesced> deliveries = new EnumMap<>(JobProgress.Change.class);
        for (JobProgress.Change c : JobProgress.Change.values()) {
            deliveries.put(c, new UiCoalesced(ui, () -> broker.send(JobTopics.of(c), job)));
        }
        job.progress().observe((p, change) -> publish(job, change, deliveries.get(change)));
        jobs.add(job);
        deliver(JobTopics.LAUNCHED, job);
        job.schedule();
        return job;
    }

    /**
     * A job can print thousands of lines and steps a second while the views need only its latest state: a
     * topic has at most one delivery per job waiting for the UI thread, and changes that come before it is
     * delivered ride along with it. A state change or a run is delivered each time.
     */
    private void publish(DistilleryJob job, JobProgress.Change change, UiCoalesced delivery) {
        if (change == JobProgress.Change.STATE || change == JobProgress.Change.RUN) {
            deliver(JobTopics.of(change), job);
        } else {
            delivery.request();
        }
    }

    /**
     * Every job event is sent from the UI thread, in the order asked for. e4's {@code @UIEventTopic} supplier
     * parks an event under its subscription's topic while it resolves the handler's argument: two deliveries
     * to one subscription on two threads at once (a post on the event thread, a send on the UI thread) can
     * take each other's event, and one handler is then skipped. A job that failed as it printed its error lost
     * its FAILED that way, and the Jobs view showed it starting for good.
     */
    private void deliver(String topic, DistilleryJob job) {
        ui.asyncExec(() -> broker.send(topic, job));
    }

    public synchronized List<DistilleryJob> all() {
        return List.copyOf(jobs);
    }

    /** Whether any job is still running. */
    public synchronized boolean anyRunning() {
        return jobs.stream().anyMatch(j -> !j.progress().ended());
    }

    /** The job that announced the run {@code runId}, newest first, or null. */
    public synchronized JobProgress forRun(String runId) {
        for (int i = jobs.size() - 1; i >= 0; i--) {
            if (runId != null && runId.equals(jobs.get(i).progress().runId())) {
                return jobs.get(i).progress();
            }
        }
        return null;
    }

    /** Launches a stopped or failed training job again with --resume. */
    public DistilleryJob resume(DistilleryJob job) {
        JobLaunch l = job.progress().launch();
        return launch(l.resumed());
    }
}
