package org.distillery.core.progress;

/** Where a job reports its progress; implementations must accept events from any thread. */
@FunctionalInterface
public interface ProgressListener extends AutoCloseable {
    ProgressListener NONE = e -> { };

    void on(ProgressEvent event);

    @Override
    default void close() {
    }
}
