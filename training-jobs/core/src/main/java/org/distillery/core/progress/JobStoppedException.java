package org.distillery.core.progress;

import org.distillery.core.DistilleryException;

/** A job left its loop on a {@link GracefulStop} request after saving what a resume needs. */
public final class JobStoppedException extends DistilleryException {
    public JobStoppedException(String message) {
        super(message);
    }
}
