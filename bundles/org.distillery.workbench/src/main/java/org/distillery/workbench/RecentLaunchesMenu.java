package org.distillery.workbench;

import java.util.List;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.debug.core.ILaunchConfiguration;
import org.eclipse.e4.ui.di.AboutToShow;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.commands.MCommand;
import org.eclipse.e4.ui.model.application.commands.MParameter;
import org.eclipse.e4.ui.model.application.ui.menu.MDirectMenuItem;
import org.eclipse.e4.ui.model.application.ui.menu.MHandledMenuItem;
import org.eclipse.e4.ui.model.application.ui.menu.MMenuElement;
import org.eclipse.e4.ui.workbench.modeling.EModelService;

/** Run → Recent: the saved Distillery launch configurations, newest first, each a relaunch. */
public class RecentLaunchesMenu {
    static final int MAX = 10;

    @AboutToShow
    public void aboutToShow(List<MMenuElement> items, EModelService models, MApplication app) {
        MCommand relaunch = app.getCommands().stream().filter(c -> RelaunchHandler.COMMAND.equals(c.getElementId()))
                .findFirst().orElseThrow();
        List<ILaunchConfiguration> configs;
        try {
            configs = LaunchConfigurations.all();
        } catch (CoreException e) {
            MDirectMenuItem none = models.createModelElement(MDirectMenuItem.class);
            none.setLabel("(launch configurations unreadable: " + e.getStatus().getMessage() + ")");
            none.setEnabled(false);
            items.add(none);
            return;
        }
        for (ILaunchConfiguration c : configs.subList(0, Math.min(MAX, configs.size()))) {
            MHandledMenuItem item = models.createModelElement(MHandledMenuItem.class);
            item.setLabel(c.getName());
            item.setElementId("org.distillery.workbench.menuitem.recent." + c.getName().replaceAll("\\W", "_"));
            item.setCommand(relaunch);
            item.setIconURI(LaunchConfigurations.ICON);
            MParameter p = models.createModelElement(MParameter.class);
            p.setName(RelaunchHandler.CONFIG);
            p.setValue(c.getName());
            item.getParameters().add(p);
            items.add(item);
        }
        if (configs.isEmpty()) {
            MDirectMenuItem none = models.createModelElement(MDirectMenuItem.class);
            none.setLabel("(no launches saved yet)");
            none.setEnabled(false);
            items.add(none);
        }
    }
}
