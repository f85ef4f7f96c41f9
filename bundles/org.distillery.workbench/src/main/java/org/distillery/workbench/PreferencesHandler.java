package org.distillery.workbench;

import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.jface.window.Window;
import org.eclipse.swt.widgets.Shell;

/** Distillery → Preferences…: edits and stores the engine settings. */
public class PreferencesHandler {
    @Execute
    public void execute(Shell shell, WorkbenchSettings settings) {
        PreferencesDialog dialog = new PreferencesDialog(shell, settings.get());
        if (dialog.open() == Window.OK) {
            settings.put(dialog.settings());
            WorkbenchSettings.putClusters(dialog.clusters());
        }
    }
}
