package org.distillery.workbench;

import org.eclipse.swt.widgets.Widget;

/** Names widgets for tests that drive the UI, the way SWTBot's widget key does. */
public final class Widgets {
    /** The {@code Widget.getData} key that holds a widget's name. */
    public static final String KEY = "org.distillery.widget";

    private Widgets() {
    }

    public static <W extends Widget> W named(W w, String name) {
        w.setData(KEY, name);
        return w;
    }
}
