package org.distillery.workbench;

import jakarta.inject.Named;
import org.distillery.workbench.core.runs.SavedComparison;
import org.eclipse.e4.core.di.annotations.CanExecute;
import org.eclipse.e4.core.di.annotations.Execute;
import org.eclipse.e4.core.di.annotations.Optional;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;

/**
 * File > Compare Ticked Runs ({@link #KEYS}): the runs ticked in the Runs view in a comparison editor; with the
 * command's comparison parameter (File > Recent Comparisons), that comparison as it was left.
 */
public class CompareHandler {
    public static final String COMMAND = "org.distillery.workbench.command.compare";
    public static final String COMPARISON = "org.distillery.workbench.command.compare.comparison";
    static final String KEYS = "Ctrl+Alt+C";

    @CanExecute
    public boolean canExecute(@Optional @Named(COMPARISON) String comparison,
                              @Optional @Named(RunsPart.TICKED) SavedComparison ticked) {
        return comparison != null || ticked != null;
    }

    @Execute
    public void execute(@Optional @Named(COMPARISON) String comparison,
                        @Optional @Named(RunsPart.TICKED) SavedComparison ticked, EPartService parts,
                        EModelService models, MApplication app) {
        java.util.Optional<SavedComparison> chosen = comparison != null ? SavedComparison.parse(comparison)
                : java.util.Optional.ofNullable(ticked);
        chosen.ifPresent(c -> ComparePart.open(parts, models, app, c));
    }
}
