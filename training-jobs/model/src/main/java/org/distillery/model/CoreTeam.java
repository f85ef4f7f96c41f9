package org.distillery.model;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * One thread per core that runs the parts of a kernel, and spins for a short while between kernels
 * before it parks, as OpenMP's workers do. A training step calls some two hundred kernels a few
 * hundred microseconds apart; waking a parked thread (a fork-join worker, say) costs tens of
 * microseconds on a virtual machine each time, which summed to a tenth of a step.
 *
 * <p>The calling thread runs part 0 itself. One caller at a time uses the team; a second caller
 * (another model on another thread) runs its parts itself rather than wait.
 */
final class CoreTeam {
    /** How long a worker spins for the next kernel before it parks. */
    private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(500);

    private static final CoreTeam SHARED = new CoreTeam(Runtime.getRuntime().availableProcessors());

    private final Worker[] workers;
    private final ReentrantLock lock = new ReentrantLock();

    CoreTeam(int threads) {
        workers = new Worker[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            workers[i].start();
        }
    }

    /** The team of this JVM's cores, started on first use. */
    static CoreTeam shared() {
        return SHARED;
    }

    /** Threads that can run parts at once, the caller included. */
    int size() {
        return workers.length + 1;
    }

    /** Runs {@code part.accept(i)} for i in [0, parts), parts ≤ {@link #size()}, and returns when all are done. */
    void run(int parts, IntConsumer part) {
        if (parts > size()) {
            throw new IllegalArgumentException(parts + " parts for a team of " + size());
        }
        if (parts <= 1 || Thread.currentThread() instanceof Worker || !lock.tryLock()) {
            for (int i = 0; i < parts; i++) {
                part.accept(i);
            }
            return;
        }
        try {
            for (int i = 1; i < parts; i++) {
                workers[i - 1].post(part);
            }
            Throwable failure = null;
            try {
                part.accept(0);
            } catch (Throwable t) {
                failure = t;
            }
            for (int i = 1; i < parts; i++) {
                Throwable t = workers[i - 1].await();
                if (failure == null) {
                    failure = t;
                }
            }
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    private static final class Worker extends Thread {
        private final int index;
        private volatile IntConsumer task;
        private volatile long posted;
        private volatile long done;
        private volatile boolean parked;
        private Throwable failure;

        Worker(int index) {
            super("distillery-kernels-" + index);
            this.index = index;
            setDaemon(true);
        }

        void post(IntConsumer part) {
            task = part;
            posted = posted + 1; // one poster at a time: the team's lock
            if (parked) {
                LockSupport.unpark(this);
            }
        }

        /** Waits (spinning: the part is already running) for the posted part; returns what it threw. */
        Throwable await() {
            long want = posted;
            while (done != want) {
                Thread.onSpinWait();
            }
            Throwable t = failure;
            failure = null;
            return t;
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long spinUntil = System.nanoTime() + SPIN_NANOS;
                while (posted == seen) {
                    if (System.nanoTime() < spinUntil) {
                        Thread.onSpinWait();
                    } else {
                        // Dekker-style: parked is written before posted is read again, and post() writes
                        // posted before it reads parked, so one of the two always sees the other.
                        parked = true;
                        if (posted == seen) {
                            LockSupport.park(this);
                        }
                        parked = false;
                    }
                }
                seen = posted;
                try {
                    task.accept(index);
                } catch (Throwable t) {
                    failure = t;
                }
                task = null;
                done = seen;
            }
        }
    }
}
