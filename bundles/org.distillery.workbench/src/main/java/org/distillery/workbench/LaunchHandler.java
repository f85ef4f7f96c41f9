package org.distillery.workbench;

import jakarta.inject.Named;
import java.nio.file.Path;
import org.distillery.workbench.core.engine.JobLaunch;
import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.jface.dialogs.MessageDialog;
import org.eclipse.jface.window.Window;
import org.eclipse.swt.widgets.Shell;

/**
 * Run → Run As Distillery Job…: asks for a spec (optionally given as the command's parameter), saves
 * the launch as a "Distillery job" launch configuration and runs it, and opens the spec in its editor.
 */
public class LaunchHandler {
    public static final String COMMAND = "org.distillery.workbench.command.launch";
    public static final String SPEC = "org.distillery.workbench.command.launch.spec";

    @Execute
    public void execute(Shell shell, EPartService parts, EModelService models, MApplication app,
                        @Optional @Named(SPEC) String spec) {
        LaunchDialog dialog = new LaunchDialog(shell, spec == null ? null : Path.of(spec));
        if (dialog.open() != Window.OK) {
            return;
        }
        JobLaunch launch = dialog.result();
        try {
            LaunchConfigurations.launch(launch);
        } catch (CoreException e) {
            MessageDialog.openError(shell, "Run Distillery Job", e.getStatus().getMessage());
            return;
        }
        SpecEditorPart.open(parts, models, app, launch.spec());
        parts.showPart("org.distillery.workbench.part.jobs", EPartService.PartState.VISIBLE);
    }
}
