package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.List;
import org.distillery.workbench.core.engine.JobLaunch;
import org.distillery.workbench.core.engine.JobProgress;
import org.eclipse.e4.core.di.annotations.Creatable;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceRegistration;

/**
 * The jobs launched in this session, newest last; the Jobs and Runs views read them. It is also an
 * OSGi service while the workbench runs, so the debug platform's launch delegate can start jobs.
 */
@Creatable
@Singleton
public class LaunchedJobs {
    private final List<DistilleryJob> jobs = new ArrayList<>();
    private ServiceRegistration<LaunchedJobs> registration;

    @Inject
    WorkbenchSettings settings;

    @PostConstruct
    void register() {
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
        jobs.add(job);
        job.schedule();
        return job;
    }

    public synchronized List<DistilleryJob> all() {
        return List.copyOf(jobs);
    }

    /** Whether any job is still running (views refresh faster then). */
    public synchronized boolean anyRunning() {
        return jobs.stream().anyMatch(j -> !j.progress().ended());
    }

    /**
     * A count that grows whenever a job is launched, announces its run, reports a metric or changes state
     * (every term only grows, so any change moves the sum): views poll it cheaply and reload only when it moved.
     */
    public synchronized long changes() {
        long n = jobs.size();
        for (DistilleryJob j : jobs) {
            JobProgress p = j.progress();
            n += p.metricEvents() + (p.runId() != null ? 1 : 0) + p.state().ordinal();
        }
        return n;
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
        return launch(new JobLaunch(l.kind(), l.spec(), true, l.master(), false));
    }
}
