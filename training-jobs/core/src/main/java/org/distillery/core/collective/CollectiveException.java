package org.distillery.core.collective;

import java.io.IOException;

/**
 * A ring that cannot be formed or broke: a neighbour that does not come, answers nothing for the timeout, closes
 * its end, or cannot prove it belongs to the job. The message names the ranks and their addresses.
 */
public final class CollectiveException extends IOException {
    public CollectiveException(String message) {
        super(message);
    }

    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
