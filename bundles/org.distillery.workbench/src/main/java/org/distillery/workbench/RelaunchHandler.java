package org.distillery.workbench;

import jakarta.inject.Named;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.debug.core.ILaunchConfiguration;
import org.eclipse.debug.core.ILaunchManager;
import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.jface.dialogs.MessageDialog;
import org.eclipse.swt.widgets.Shell;

/** Run → Recent → a saved "Distillery job" launch configuration, run again as it was saved. */
public class RelaunchHandler {
    public static final String COMMAND = "org.distillery.workbench.command.relaunch";
    public static final String CONFIG = "org.distillery.workbench.command.relaunch.config";

    @Execute
    public void execute(Shell shell, EPartService parts, @Named(CONFIG) String name) {
        try {
            for (ILaunchConfiguration c : LaunchConfigurations.all()) {
                if (c.getName().equals(name)) {
                    c.launch(ILaunchManager.RUN_MODE, new org.eclipse.core.runtime.NullProgressMonitor());
                    parts.showPart("org.distillery.workbench.part.jobs", EPartService.PartState.VISIBLE);
                    return;
                }
            }
            MessageDialog.openError(shell, "Run " + name, "No launch configuration '" + name + "' is saved any more");
        } catch (CoreException e) {
            MessageDialog.openError(shell, "Run " + name, e.getStatus().getMessage());
        }
    }
}
