package org.distillery.workbench;

import org.eclipse.swt.SWT;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableColumn;
import org.eclipse.swt.widgets.TableItem;
import org.eclipse.swt.widgets.Widget;

/** Names widgets for tests that drive the UI, the way SWTBot's widget key does; and builds the views' tables. */
public final class Widgets {
    /** The {@code Widget.getData} key that holds a widget's name. */
    public static final String KEY = "org.distillery.widget";

    private Widgets() {
    }

    public static <W extends Widget> W named(W w, String name) {
        w.setData(KEY, name);
        return w;
    }

    /** A named table with a header; each column is {@code "Title:width"}. */
    static Table table(Composite parent, int style, String name, String... columns) {
        Table t = named(new Table(parent, style | SWT.FULL_SELECTION | SWT.BORDER), name);
        t.setHeaderVisible(true);
        for (String c : columns) {
            int colon = c.lastIndexOf(':');
            TableColumn col = new TableColumn(t, c.endsWith("r") ? SWT.RIGHT : SWT.LEFT);
            col.setText(c.substring(0, colon));
            col.setWidth(Integer.parseInt(c.substring(colon + 1).replace("r", "")));
        }
        return t;
    }

    /** Appends a row holding {@code data}. */
    static TableItem row(Table t, Object data, String... cells) {
        TableItem item = new TableItem(t, SWT.NONE);
        item.setText(cells);
        item.setData(data);
        return item;
    }
}
