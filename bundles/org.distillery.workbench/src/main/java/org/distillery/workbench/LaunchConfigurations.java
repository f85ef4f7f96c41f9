package org.distillery.workbench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.distillery.workbench.core.engine.JobLaunch;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.core.runtime.NullProgressMonitor;
import org.eclipse.debug.core.DebugPlugin;
import org.eclipse.debug.core.ILaunchConfiguration;
import org.eclipse.debug.core.ILaunchConfigurationType;
import org.eclipse.debug.core.ILaunchConfigurationWorkingCopy;
import org.eclipse.debug.core.ILaunchManager;

/**
 * Distillery jobs as Eclipse launch configurations of the type "Distillery job" (declared in
 * plugin.xml): a launch is saved under the workspace's metadata like any Run configuration, and runs
 * through the debug platform, which hands it to {@link DistilleryLaunchDelegate}.
 */
final class LaunchConfigurations {
    static final String TYPE = "org.distillery.workbench.launchConfigurationType";
    /** The type's icon, on each configuration the workbench lists (the IDE's launchConfigurationTypeImages). */
    static final String ICON = "platform:/plugin/org.distillery.workbench/icons/launch.png";

    private LaunchConfigurations() {
    }

    private static ILaunchManager manager() {
        return DebugPlugin.getDefault().getLaunchManager();
    }

    /** The saved Distillery configurations, most recently saved first. */
    static List<ILaunchConfiguration> all() throws CoreException {
        ILaunchConfigurationType type = manager().getLaunchConfigurationType(TYPE);
        List<ILaunchConfiguration> out = new ArrayList<>(Arrays.asList(manager().getLaunchConfigurations(type)));
        out.sort((a, b) -> Long.compare(modified(b), modified(a)));
        return out;
    }

    /**
     * Saves {@code launch} as a configuration: the one already saved for the same spec and kind is
     * updated (so relaunching does not pile up copies), else a new one is named after the spec.
     */
    static ILaunchConfiguration save(JobLaunch launch) throws CoreException {
        Map<String, Object> attributes = launch.attributes();
        ILaunchConfigurationWorkingCopy wc = null;
        for (ILaunchConfiguration c : all()) {
            if (attributes.get(JobLaunch.ATTR_SPEC).equals(c.getAttribute(JobLaunch.ATTR_SPEC, ""))
                    && attributes.get(JobLaunch.ATTR_KIND).equals(c.getAttribute(JobLaunch.ATTR_KIND, ""))) {
                wc = c.getWorkingCopy();
                break;
            }
        }
        if (wc == null) {
            ILaunchConfigurationType type = manager().getLaunchConfigurationType(TYPE);
            wc = type.newInstance(null, manager().generateLaunchConfigurationName(launch.configurationName()));
        }
        wc.setAttributes(attributes);
        return wc.doSave();
    }

    /** Saves and runs {@code launch} through the debug platform. */
    static ILaunchConfiguration launch(JobLaunch launch) throws CoreException {
        ILaunchConfiguration c = save(launch);
        c.launch(ILaunchManager.RUN_MODE, new NullProgressMonitor());
        return c;
    }

    /** The launch a saved configuration holds. */
    static JobLaunch of(ILaunchConfiguration c) throws CoreException {
        return JobLaunch.fromAttributes(c.getName(), c.getAttributes());
    }

    private static long modified(ILaunchConfiguration c) {
        return c.getLocation() == null ? 0 : c.getLocation().toFile().lastModified();
    }
}
