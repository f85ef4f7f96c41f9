package org.distillery.workbench;

import java.nio.file.Path;
import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.swt.SWT;
import org.eclipse.swt.widgets.FileDialog;
import org.eclipse.swt.widgets.Shell;

/** File → Open Spec…: a YAML spec in the spec editor, validated as it opens. */
public class OpenSpecHandler {
    @Execute
    public void execute(Shell shell, EPartService parts, EModelService models, MApplication app,
                        WorkbenchSettings settings) {
        FileDialog d = new FileDialog(shell, SWT.OPEN);
        d.setText("Open Spec");
        d.setFilterExtensions(new String[] {"*.yaml;*.yml", "*"});
        java.nio.file.Path engine = settings.get().engine();
        if (java.nio.file.Files.isDirectory(engine.resolve("pipelines"))) {
            d.setFilterPath(engine.resolve("pipelines").toString());
        }
        String chosen = d.open();
        if (chosen != null) {
            SpecEditorPart.open(parts, models, app, Path.of(chosen));
        }
    }
}
