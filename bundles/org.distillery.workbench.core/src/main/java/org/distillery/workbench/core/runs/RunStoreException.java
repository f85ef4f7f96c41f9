package org.distillery.workbench.core.runs;

/** A run store that cannot be read: the message names the store, the file or call, and what was expected. */
public final class RunStoreException extends RuntimeException {
    public RunStoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public RunStoreException(String message) {
        super(message);
    }
}
