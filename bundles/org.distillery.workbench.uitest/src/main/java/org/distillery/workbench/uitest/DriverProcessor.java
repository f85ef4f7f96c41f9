package org.distillery.workbench.uitest;

import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.ui.model.application.MAddon;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;

/** Adds {@link UiDriver} to the application model when the test installed this bundle. */
public class DriverProcessor {
    @Execute
    public void addDriver(MApplication app, EModelService models) {
        MAddon addon = models.createModelElement(MAddon.class);
        addon.setElementId("org.distillery.workbench.uitest.driver");
        addon.setContributionURI("bundleclass://org.distillery.workbench.uitest/" + UiDriver.class.getName());
        app.getAddons().add(addon);
    }
}
