package org.distillery.workbench;

import org.distillery.workbench.core.engine.JobLaunch;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.core.runtime.IProgressMonitor;
import org.eclipse.core.runtime.Status;
import org.eclipse.debug.core.ILaunch;
import org.eclipse.debug.core.ILaunchConfiguration;
import org.eclipse.debug.core.model.ILaunchConfigurationDelegate;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceReference;

/**
 * Runs a "Distillery job" launch configuration: its attributes become a {@link JobLaunch}, which the
 * workbench's {@link LaunchedJobs} (an OSGi service while the workbench runs) starts as an Eclipse Job.
 */
public class DistilleryLaunchDelegate implements ILaunchConfigurationDelegate {
    static final String BUNDLE = "org.distillery.workbench";

    @Override
    public void launch(ILaunchConfiguration configuration, String mode, ILaunch launch, IProgressMonitor monitor)
            throws CoreException {
        JobLaunch job;
        try {
            job = LaunchConfigurations.of(configuration);
        } catch (IllegalArgumentException e) {
            throw new CoreException(Status.error(e.getMessage(), e));
        }
        BundleContext ctx = FrameworkUtil.getBundle(DistilleryLaunchDelegate.class).getBundleContext();
        ServiceReference<LaunchedJobs> ref = ctx.getServiceReference(LaunchedJobs.class);
        if (ref == null) {
            throw new CoreException(Status.error(configuration.getName() + ": the Distillery workbench is not running"
                    + " (no job service to start it)"));
        }
        try {
            ctx.getService(ref).launch(job);
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw new CoreException(Status.error(configuration.getName() + ": " + e.getMessage(), e));
        } finally {
            ctx.ungetService(ref);
        }
    }
}
