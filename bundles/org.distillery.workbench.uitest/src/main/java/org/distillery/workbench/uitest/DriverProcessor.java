package org.distillery.workbench.uitest;

import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.ui.model.application.MAddon;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;

/**
 * Adds {@link UiDriver} to the application model when the test installed this bundle, once: a restarted workbench
 * has it in its saved model already.
 */
public class DriverProcessor {
    static final String ID = "org.distillery.workbench.uitest.driver";

    @Execute
    public void addDriver(MApplication app, EModelService models) {
        if (app.getAddons().stream().anyMatch(a -> ID.equals(a.getElementId()))) {
            return;
        }
        MAddon addon = models.createModelElement(MAddon.class);
        addon.setElementId(ID);
        addon.setContributionURI("bundleclass://org.distillery.workbench.uitest/" + UiDriver.class.getName());
        app.getAddons().add(addon);
    }
}
