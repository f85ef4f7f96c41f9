package org.distillery.workbench;

import org.eclipse.swt.SWT;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.layout.GridLayout;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
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
            column(t, c);
        }
        return t;
    }

    /** Appends a column given as {@code "Title:width"}, right-aligned with {@code "Title:widthr"}. */
    static TableColumn column(Table t, String column) {
        int colon = column.lastIndexOf(':');
        TableColumn col = new TableColumn(t, column.endsWith("r") ? SWT.RIGHT : SWT.LEFT);
        col.setText(column.substring(0, colon));
        col.setWidth(Integer.parseInt(column.substring(colon + 1).replace("r", "")));
        return col;
    }

    /** A view's top row: a grid of {@code columns} cells across the part, above its content. */
    static Composite bar(Composite parent, int columns) {
        parent.setLayout(new GridLayout(1, false));
        Composite top = new Composite(parent, SWT.NONE);
        top.setLayout(new GridLayout(columns, false));
        top.setLayoutData(new GridData(SWT.FILL, SWT.TOP, true, false));
        return top;
    }

    /** A view's status line in its top row: a named label taking the row's free width. */
    static Label status(Composite top, String name) {
        Label l = named(new Label(top, SWT.NONE), name);
        l.setLayoutData(new GridData(SWT.FILL, SWT.CENTER, true, false));
        return l;
    }

    /** A named push button that runs {@code action}. */
    static Button button(Composite parent, String text, String name, Runnable action) {
        Button b = named(new Button(parent, SWT.PUSH), name);
        b.setText(text);
        b.addListener(SWT.Selection, e -> action.run());
        return b;
    }

    /** Appends a row holding {@code data}. */
    static TableItem row(Table t, Object data, String... cells) {
        TableItem item = new TableItem(t, SWT.NONE);
        item.setText(cells);
        item.setData(data);
        return item;
    }
}
