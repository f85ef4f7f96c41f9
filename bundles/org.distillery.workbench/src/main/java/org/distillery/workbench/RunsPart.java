package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.FillLayout;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;

/** The Runs view: an empty placeholder in this first stage of the workbench (the product builds and starts). */
public class RunsPart {
    @PostConstruct
    public void create(Composite parent) {
        parent.setLayout(new FillLayout());
        new Label(parent, SWT.NONE).setText("Runs");
    }
}
