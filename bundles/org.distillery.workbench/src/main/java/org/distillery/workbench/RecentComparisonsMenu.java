package org.distillery.workbench;

import java.util.List;
import org.distillery.workbench.core.runs.SavedComparison;
import org.eclipse.e4.ui.di.AboutToShow;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.commands.MCommand;
import org.eclipse.e4.ui.model.application.commands.MParameter;
import org.eclipse.e4.ui.model.application.ui.menu.MDirectMenuItem;
import org.eclipse.e4.ui.model.application.ui.menu.MHandledMenuItem;
import org.eclipse.e4.ui.model.application.ui.menu.MMenuElement;
import org.eclipse.e4.ui.workbench.modeling.EModelService;

/** File > Recent Comparisons: the comparisons opened lately, newest first, each opening as it was left. */
public class RecentComparisonsMenu {
    @AboutToShow
    public void aboutToShow(List<MMenuElement> items, EModelService models, MApplication app) {
        MCommand compare = app.getCommands().stream().filter(c -> CompareHandler.COMMAND.equals(c.getElementId()))
                .findFirst().orElseThrow();
        List<SavedComparison> recent = RecentComparisons.list();
        int i = 0;
        for (SavedComparison c : recent) {
            MHandledMenuItem item = models.createModelElement(MHandledMenuItem.class);
            item.setLabel(c.title());
            item.setElementId("org.distillery.workbench.menuitem.comparison." + i++);
            item.setCommand(compare);
            MParameter p = models.createModelElement(MParameter.class);
            p.setName(CompareHandler.COMPARISON);
            p.setValue(c.json());
            item.getParameters().add(p);
            items.add(item);
        }
        if (recent.isEmpty()) {
            MDirectMenuItem none = models.createModelElement(MDirectMenuItem.class);
            none.setLabel("(no comparisons yet: tick runs in the Runs view, then Compare)");
            none.setEnabled(false);
            items.add(none);
        }
    }
}
