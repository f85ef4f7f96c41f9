package org.distillery.model.train;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import org.distillery.core.DistilleryException;
import org.distillery.core.collective.RingAllReduce;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How the ranks of a data-parallel run share an optimizer step: rank r computes the micro-batches r, r + N, ... of
 * the step's global batch, and the gradients (and the loss) are summed over the ranks before every rank runs the
 * same AdamW step, so all hold the same parameters and the run equals one process's: bit for bit with the exact
 * {@link GradientSum}, up to float summation order with the float one.
 */
public interface DataParallel {
    /** One process: every micro-batch here, nothing to sum. */
    DataParallel SINGLE = new DataParallel() {
        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int ranks() {
            return 1;
        }

        @Override
        public void sum(FloatBuffer values) {
        }

        @Override
        public void sum(LongBuffer values) {
        }
    };

    int rank();

    int ranks();

    /** Replaces each value by its sum over the ranks (every rank passes the same length). */
    void sum(FloatBuffer values) throws IOException;

    /** Replaces each value by its exact sum over the ranks (every rank passes the same length). */
    void sum(LongBuffer values) throws IOException;

    /**
     * Every rank says whether it set up (null) or why it cannot start; each then fails if any rank cannot, so no rank
     * waits for one that will never come. By default through {@link #sum}: a rank learns that another failed, and
     * that rank reports why.
     */
    default void ready(String problem) throws IOException {
        if (ranks() == 1) {
            return;
        }
        FloatBuffer failed = FloatBuffer.wrap(new float[] {problem != null ? 1 : 0});
        sum(failed);
        if (problem == null && failed.get(0) > 0) {
            throw new DistilleryException("rank " + rank() + ": " + (int) failed.get(0) + " other rank(s) of "
                    + ranks() + " could not start; their errors say why");
        }
    }

    /**
     * Fails, naming {@code step}, unless every rank passes the same {@code value} (a parameter hash): the ranks
     * gather all values exactly through {@link #sum} (each rank's in its own slot, 16 bits to a float).
     */
    default void requireSame(long value, long step) throws IOException {
        int n = ranks();
        if (n == 1) {
            return;
        }
        FloatBuffer all = FloatBuffer.allocate(4 * n);
        for (int i = 0; i < 4; i++) {
            all.put(4 * rank() + i, (value >>> (16 * i)) & 0xFFFF);
        }
        sum(all);
        for (int r = 0; r < n; r++) {
            long v = 0;
            for (int i = 0; i < 4; i++) {
                v |= ((long) all.get(4 * r + i)) << (16 * i);
            }
            if (v != value) {
                throw new DistilleryException("the ranks' parameters diverged at step " + step + ": rank " + r
                        + " holds hash " + Long.toHexString(v) + ", rank " + rank() + " " + Long.toHexString(value)
                        + " (a rank computed differently: different hardware, kernels or library versions?)");
            }
        }
    }

    /** Sums a float array in ND4J's native memory over the ranks, in place, without a copy to the heap. */
    default void sum(INDArray values) throws IOException {
        if (ranks() > 1) {
            sum(values.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().limit((int) values.length()));
        }
    }

    /** The ranks of a ring all-reduce. */
    static DataParallel over(RingAllReduce ring) {
        return new Ring(ring);
    }

    /** The ranks of a ring all-reduce; a launcher with its own way to agree on the start overrides {@link #ready}. */
    class Ring implements DataParallel {
        private final RingAllReduce ring;

        public Ring(RingAllReduce ring) {
            this.ring = ring;
        }

        @Override
        public int rank() {
            return ring.rank();
        }

        @Override
        public int ranks() {
            return ring.ranks();
        }

        @Override
        public void sum(FloatBuffer values) throws IOException {
            ring.sum(values);
        }

        @Override
        public void sum(LongBuffer values) throws IOException {
            ring.sum(values);
        }
    }
}
