package org.distillery.workbench;

import java.util.List;
import org.distillery.workbench.core.runs.SavedComparison;
import org.eclipse.core.runtime.preferences.IEclipsePreferences;
import org.eclipse.core.runtime.preferences.InstanceScope;
import org.osgi.service.prefs.BackingStoreException;

/** The comparisons opened lately, newest first, kept in the workbench's preferences across sessions. */
final class RecentComparisons {
    private static final String NODE = "org.distillery.workbench.compare";
    private static final String KEY = "recent";

    private RecentComparisons() {
    }

    static List<SavedComparison> list() {
        return SavedComparison.read(InstanceScope.INSTANCE.getNode(NODE).get(KEY, ""));
    }

    /** Puts {@code c} first (replacing the entry of the same runs) and saves at once. */
    static void remember(SavedComparison c) {
        IEclipsePreferences node = InstanceScope.INSTANCE.getNode(NODE);
        node.put(KEY, SavedComparison.write(SavedComparison.remember(list(), c)));
        try {
            node.flush();
        } catch (BackingStoreException e) {
            throw new IllegalStateException("cannot save the recent comparisons: " + e.getMessage(), e);
        }
    }
}
