package org.distillery.model.train;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.distillery.core.collective.RingAllReduce;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How the ranks of a data-parallel run share an optimizer step: rank r computes the micro-batches r, r + N, ... of
 * the step's global batch, and the gradients (and the loss) are summed over the ranks before every rank runs the
 * same AdamW step, so all hold the same parameters and the run equals one process's up to float summation order.
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
    };

    int rank();

    int ranks();

    /** Replaces each value by its sum over the ranks (every rank passes the same length). */
    void sum(FloatBuffer values) throws IOException;

    /** Sums a float array in ND4J's native memory over the ranks, in place, without a copy to the heap. */
    default void sum(INDArray values) throws IOException {
        if (ranks() > 1) {
            sum(values.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().limit((int) values.length()));
        }
    }

    /** The ranks of a ring all-reduce. */
    static DataParallel over(RingAllReduce ring) {
        return new DataParallel() {
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
        };
    }
}
