package org.distillery.core.progress;

/** Where a job reports its progress; implementations must accept events from any thread. */
@FunctionalInterface
public interface ProgressListener extends AutoCloseable {
    ProgressListener NONE = e -> { };

    void on(ProgressEvent event);

    /** This listener and {@code other}, each hearing every event; closing closes both. */
    default ProgressListener and(ProgressListener other) {
        ProgressListener first = this;
        return new ProgressListener() {
            @Override
            public void on(ProgressEvent event) {
                first.on(event);
                other.on(event);
            }

            @Override
            public void close() {
                try {
                    first.close();
                } finally {
                    other.close();
                }
            }
        };
    }

    @Override
    default void close() {
    }
}
