package org.distillery.model.train;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How one optimizer step adds up its micro-batches' gradients and loss figures, here and over the ranks.
 *
 * <p>{@link #exact}: each micro-batch's gradient leaves the kernels' buffers after that micro-batch, rounded once to a
 * multiple of 2^-40, and is added as a 64-bit integer, here and in the ranks' all-reduce. Integer addition is
 * associative, so a step's sum, and with it every weight of the run, is the same bits whichever rank computed which
 * micro-batch and however many ranks there are. The rounding is below float32's own for every element of magnitude
 * 2^-16 or more and within 2^-41 below that, far under AdamW's epsilon.
 *
 * <p>{@link #floats}: the kernels accumulate the micro-batches in place and the ranks add their float sums in ring
 * order, which moves the last bits with the cluster's size and the processor's vector width.
 */
public abstract class GradientSum {
    /** The gradients' fixed point: units of 2^-40. */
    static final double GRADIENT_UNIT = 0x1p40;
    /** The loss figures' fixed point: units of 2^-32, room for sums of losses up to 2^31 per step. */
    static final double LOSS_UNIT = 0x1p32;

    /** The gradient buffers the objective adds into: the model's, then the objective's own weights' (if any). */
    final List<INDArray> buffers;
    final int microBatches;
    private List<String> partNames;

    private GradientSum(List<INDArray> buffers, int microBatches) {
        this.buffers = buffers;
        this.microBatches = microBatches;
    }

    /** The integer sum: the same bits for 1 process and N ranks. */
    public static GradientSum exact(List<INDArray> buffers, int microBatches) {
        return new Exact(buffers, microBatches);
    }

    /** The float sum, as the kernels and the ring give it. */
    public static GradientSum floats(List<INDArray> buffers, int microBatches) {
        return new Floats(buffers, microBatches);
    }

    /**
     * The sum named by the spec's {@code distributed.sum}. One micro-batch a step needs no integers: its gradient
     * plus the other ranks' zeros is exact in float too.
     */
    public static GradientSum named(String name, List<INDArray> buffers, int microBatches) {
        return name.equals("float") || microBatches == 1 ? floats(buffers, microBatches) : exact(buffers, microBatches);
    }

    /**
     * Takes micro-batch {@code micro}'s loss (already divided by the micro-batches) and its loss parts, after the
     * objective added its gradient to {@link #buffers}.
     */
    public final void add(long step, int micro, double loss, Map<String, TrainJob.Part> parts) {
        if (partNames == null) {
            partNames = List.copyOf(parts.keySet());
            start(partNames.size());
        } else if (!partNames.equals(List.copyOf(parts.keySet()))) {
            throw new IllegalStateException("loss parts " + parts.keySet() + " after " + partNames);
        }
        double[] sums = new double[partNames.size()];
        long[] counts = new long[partNames.size()];
        int i = 0;
        for (TrainJob.Part p : parts.values()) {
            sums[i] = p.sum();
            counts[i++] = p.count();
        }
        addMicroBatch(step, micro, loss, sums, counts);
    }

    /** The names of the loss parts, in the order of {@link #finish}'s sums (empty before the first micro-batch). */
    public final List<String> partNames() {
        return partNames == null ? List.of() : partNames;
    }

    /**
     * Sums what this rank took over the ranks (a rank with no micro-batch adds zeros), leaves the step's gradient in
     * {@link #buffers}, and returns the loss, the parts' sums, then their counts. Ready for the next step after.
     */
    public final double[] finish(DataParallel parallel, List<String> names) throws IOException {
        if (partNames == null) { // this rank computed no micro-batch: it adds zeros under the others' names
            partNames = names;
            start(names.size());
        }
        return finishStep(parallel);
    }

    abstract void start(int parts);

    abstract void addMicroBatch(long step, int micro, double loss, double[] sums, long[] counts);

    abstract double[] finishStep(DataParallel parallel) throws IOException;

    /** A float view of an array's values in native memory, from its first. */
    static FloatBuffer nativeView(INDArray a) {
        if (a.isView() && a.length() != a.data().length()) {
            throw new IllegalArgumentException("a gradient buffer must be whole, not a view");
        }
        return a.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().limit((int) a.length());
    }

    private static final class Exact extends GradientSum {
        private final long[] gradients;
        private long[] scalars;
        /** The largest term, in units: any {@code microBatches} of them sum below 2^62, so no sum overflows. */
        private final double limit;

        Exact(List<INDArray> buffers, int microBatches) {
            super(buffers, microBatches);
            long n = 0;
            for (INDArray b : buffers) {
                n += b.length();
            }
            gradients = new long[Math.toIntExact(n)];
            limit = 0x1p62 / microBatches;
        }

        @Override
        void start(int parts) {
            scalars = new long[1 + 2 * parts];
        }

        @Override
        void addMicroBatch(long step, int micro, double loss, double[] sums, long[] counts) {
            int at = 0;
            for (INDArray b : buffers) {
                FloatBuffer f = nativeView(b);
                int n = f.limit();
                for (int i = 0; i < n; i++) {
                    double units = f.get(i) * GRADIENT_UNIT;
                    if (!(Math.abs(units) <= limit)) { // NaN too
                        throw new DistilleryException("training diverged at step " + (step + 1) + ": a gradient"
                                + " element of micro-batch " + micro + " is " + f.get(i) + ", beyond the exact sum's"
                                + " range of ±" + (float) (limit / GRADIENT_UNIT) + " (distributed.sum: exact):"
                                + " lower optimizer.lr or raise optimizer.warmup_steps");
                    }
                    gradients[at + i] += (long) Math.rint(units);
                }
                b.assign(0);
                at += n;
            }
            scalars[0] += Math.round(loss * LOSS_UNIT);
            for (int i = 0; i < sums.length; i++) {
                scalars[1 + i] += Math.round(sums[i] * LOSS_UNIT);
                scalars[1 + sums.length + i] += counts[i];
            }
        }

        @Override
        double[] finishStep(DataParallel parallel) throws IOException {
            if (parallel.ranks() > 1) {
                parallel.sum(LongBuffer.wrap(gradients));
                parallel.sum(LongBuffer.wrap(scalars));
            }
            int at = 0;
            for (INDArray b : buffers) {
                FloatBuffer f = nativeView(b);
                int n = f.limit();
                for (int i = 0; i < n; i++) {
                    f.put(i, (float) (gradients[at + i] / GRADIENT_UNIT));
                }
                at += n;
            }
            java.util.Arrays.fill(gradients, 0);
            int parts = (scalars.length - 1) / 2;
            double[] out = new double[scalars.length];
            out[0] = scalars[0] / LOSS_UNIT;
            for (int i = 0; i < parts; i++) {
                out[1 + i] = scalars[1 + i] / LOSS_UNIT;
                out[1 + parts + i] = scalars[1 + parts + i];
            }
            java.util.Arrays.fill(scalars, 0);
            return out;
        }
    }

    private static final class Floats extends GradientSum {
        private double[] scalars;

        Floats(List<INDArray> buffers, int microBatches) {
            super(buffers, microBatches);
        }

        @Override
        void start(int parts) {
            scalars = new double[1 + 2 * parts];
        }

        @Override
        void addMicroBatch(long step, int micro, double loss, double[] sums, long[] counts) {
            scalars[0] += loss;
            for (int i = 0; i < sums.length; i++) {
                scalars[1 + i] += sums[i];
                scalars[1 + sums.length + i] += counts[i];
            }
        }

        @Override
        double[] finishStep(DataParallel parallel) throws IOException {
            double[] out = scalars.clone();
            if (parallel.ranks() > 1) {
                for (INDArray b : buffers) {
                    parallel.sum(b);
                }
                FloatBuffer total = FloatBuffer.allocate(out.length);
                for (double v : out) {
                    total.put((float) v);
                }
                total.flip();
                parallel.sum(total);
                for (int k = 0; k < out.length; k++) {
                    out[k] = total.get(k);
                }
            }
            java.util.Arrays.fill(scalars, 0);
            return out;
        }
    }

    /** A run's gradient buffers: the model's, then its objective's own weights' if it has any. */
    public static List<INDArray> buffers(INDArray model, INDArray auxiliary) {
        List<INDArray> out = new ArrayList<>();
        out.add(model);
        if (auxiliary != null) {
            out.add(auxiliary);
        }
        return out;
    }
}
