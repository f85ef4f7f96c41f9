package org.distillery.workbench;

import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.e4.ui.di.UISynchronize;

/**
 * An action for the UI thread that is asked for from other threads, often and faster than the UI can run it,
 * and that only needs to see the latest state: at most one run waits for the UI thread, and requests made
 * before it runs ride along with it.
 */
final class UiCoalesced {
    private final UISynchronize ui;
    private final Runnable action;
    private final AtomicBoolean waiting = new AtomicBoolean();

    UiCoalesced(UISynchronize ui, Runnable action) {
        this.ui = ui;
        this.action = action;
    }

    /** Runs the action on the UI thread soon, unless a run is already waiting. */
    void request() {
        if (waiting.compareAndSet(false, true)) {
            ui.asyncExec(() -> {
                waiting.set(false);
                action.run();
            });
        }
    }
}
