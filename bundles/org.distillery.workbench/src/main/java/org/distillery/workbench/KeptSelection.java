package org.distillery.workbench;

import java.util.function.Function;
import org.eclipse.e4.ui.model.application.ui.basic.MPart;
import org.eclipse.swt.SWT;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;

/**
 * A view table's selected row, kept by an id in its part's persisted state: e4 saves that state with the layout,
 * so after a restart the view selects the row the researcher left selected, once its refill lists it again.
 */
final class KeptSelection {
    private final Table table;
    private final MPart part;
    private final String key;
    private final Function<Object, String> id;

    /** Keeps {@code table}'s selection under {@code key}; {@code id} names a row by its data. */
    KeptSelection(MPart part, Table table, String key, Function<Object, String> id) {
        this.table = table;
        this.part = part;
        this.key = key;
        this.id = id;
        table.addListener(SWT.Selection, e -> keep());
    }

    /** Remembers the selected row, when one is; the researcher's clicks call it, and so may the view. */
    void keep() {
        TableItem[] s = table.getSelection();
        if (s.length == 1) {
            part.getPersistedState().put(key, id.apply(s[0].getData()));
        }
    }

    /** The id of the row to select after a refill: the selected one, else the one kept from an earlier session. */
    String wanted() {
        TableItem[] s = table.getSelection();
        return s.length == 1 ? id.apply(s[0].getData()) : part.getPersistedState().get(key);
    }

    /** Selects and shows the row {@code wanted} names; false when no row does. */
    boolean select(String wanted) {
        for (TableItem item : table.getItems()) {
            if (id.apply(item.getData()).equals(wanted)) {
                table.setSelection(item);
                table.showItem(item);
                return true;
            }
        }
        return false;
    }
}
