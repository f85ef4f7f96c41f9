package org.distillery.workbench;

import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.ui.workbench.IWorkbench;

/** Distillery → Quit. Running jobs are separate processes: they go on, and their runs stay tracked. */
public class QuitHandler {
    @Execute
    public void execute(IWorkbench workbench) {
        workbench.close();
    }
}
