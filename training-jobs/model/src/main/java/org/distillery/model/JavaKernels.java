package org.distillery.model;


import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.distillery.core.io.BFloat16;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * {@link Kernels} as scalar loops over the arrays' native memory, for the CPU backend, with matrix
 * products sent straight to BLAS ({@link CpuBlas}: MKL, or the OpenBLAS libnd4j itself calls),
 * without an op's launch cost. One pass per row does what takes ND4J five to ten ops; the work of
 * each kernel is split over the cores by a {@link CoreTeam}. exp
 * and tanh use {@link FastExp}: {@link Math#exp} costs about ten nanoseconds here.
 * {@link VectorKernels} replaces the hot loops with SIMD ones.
 */
class JavaKernels implements Kernels {
    static final float K = (float) Math.sqrt(2.0 / Math.PI);
    static final float C = 0.044715f;
    /** Below this many values per call, splitting over threads costs more than it saves. */
    private static final long PARALLEL_MIN = 1 << 15;

    /** Below this many multiply-adds (about 20 microseconds), a product is not worth splitting. */
    private static final long GEMM_SPLIT_MIN = 1 << 20;

    /**
     * Sets OpenBLAS (shared with libnd4j) to one thread: this engine splits products over the cores
     * itself, on the same threads as its other loops. Measured on a training step, 6% faster than
     * OpenBLAS's own threads, which wake for every call and then contend with the Java workers.
     */
    JavaKernels() {
        this(MatmulPrecision.FP32);
    }

    JavaKernels(MatmulPrecision products) {
        Nd4j.factory().blas().setMaxThreads(1);
        this.products = products;
    }

    /** The precision of {@link #gemm}'s products: bf16 narrows both operands per call (as autocast does). */
    private final MatmulPrecision products;

    @Override
    public String name() {
        return getClass().getSimpleName() + "/" + CpuBlas.get() + (products == MatmulPrecision.BF16 ? "/bf16" : "");
    }

    @Override
    public Kernels withProducts(MatmulPrecision precision) {
        return precision == products ? this : new JavaKernels(precision);
    }

    @Override
    public MatmulPrecision products() {
        return products;
    }

    /** The scalar engine, used when the JVM runs without {@code --add-modules=jdk.incubator.vector}. */
    static JavaKernels withoutVectors() {
        LoggerFactory.getLogger(JavaKernels.class).warn("jdk.incubator.vector is not enabled: CPU kernels run"
                + " scalar and training is about 2x slower; run java with --add-modules=jdk.incubator.vector"
                + " (bin/distillery does)");
        return new JavaKernels();
    }

    /** Fails unless {@code a} is a contiguous row-major float array. */
    static INDArray contiguous(INDArray a) {
        if (a.dataType() != DataType.FLOAT || !rowMajorDense(a.shape(), a.stride())) {
            throw new IllegalArgumentException("expected a contiguous row-major float array, found " + a.shapeInfoToString());
        }
        return a;
    }

    /** Row-major strides, ignoring dimensions of size 1 (whose stride ND4J leaves as it pleases). */
    private static boolean rowMajorDense(long[] shape, long[] stride) {
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** The array's values as a buffer over its native memory, in row-major order, without a copy. */
    static FloatBuffer buffer(INDArray a) {
        return contiguous(a).data().asNioFloat().slice((int) a.offset(), (int) a.length());
    }

    /**
     * A pointer to the array's value at {@code offset}, for BLAS. A view's buffer address already
     * points at the buffer's own offset (its NIO view does not), so only the rest is added.
     */
    private static FloatPointer pointer(INDArray a, long offset) {
        return new FloatPointer(contiguous(a).data().addressPointer())
                .position(a.offset() - a.data().offset() + offset);
    }

    @Override
    public void gemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta) {
        gemm(a, b, out, transA, transB, beta, null);
    }

    @Override
    public void linear(INDArray x, INDArray w, INDArray bias, INDArray y) {
        gemm(x, w, y, false, false, 0.0, (r0, r1, c0, c1) -> addBiasBlock(y, bias, r0, r1, c0, c1));
    }

    @Override
    public INDArray linearGelu(INDArray x, INDArray w, INDArray bias, INDArray pre, INDArray y) {
        int c = (int) pre.columns();
        INDArray th = Nd4j.createUninitialized(DataType.FLOAT, pre.shape());
        gemm(x, w, pre, false, false, 0.0, (r0, r1, c0, c1) -> {
            addBiasBlock(pre, bias, r0, r1, c0, c1);
            segments(c, r0, r1, c0, c1, (from, to) -> geluRange(pre, y, th, from, to));
        });
        return th;
    }

    @Override
    public void linearResidual(INDArray x, INDArray w, INDArray bias, INDArray dropout, INDArray out,
                               INDArray residual) {
        int c = (int) out.columns();
        gemm(x, w, out, false, false, 0.0, (r0, r1, c0, c1) -> {
            addBiasBlock(out, bias, r0, r1, c0, c1);
            segments(c, r0, r1, c0, c1, (from, to) -> {
                if (dropout != null) {
                    multiplySpan(buffer(out), buffer(out), buffer(dropout), from, to);
                }
                addRange(residual, out, from, to);
            });
        });
    }

    /** The block's rows as spans of a row-major matrix with c columns: one span when they are whole rows. */
    static void segments(int c, int r0, int r1, int c0, int c1, RowRange span) {
        if (c0 == 0 && c1 == c) {
            span.run(r0 * c, r1 * c);
            return;
        }
        for (int r = r0; r < r1; r++) {
            span.run(r * c + c0, r * c + c1);
        }
    }

    /** What a core does to its band of a product's output right after computing it, while it is in cache. */
    @FunctionalInterface
    interface BandEpilogue {
        void run(int rowFrom, int rowTo, int colFrom, int colTo);
    }

    void gemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, double beta,
              BandEpilogue epilogue) {
        int m = (int) out.rows();
        int n = (int) out.columns();
        int k = (int) (transA ? a.rows() : a.columns());
        if ((transA ? a.columns() : a.rows()) != m || (transB ? b.columns() : b.rows()) != k
                || (transB ? b.rows() : b.columns()) != n) {
            throw new IllegalArgumentException("gemm shapes do not agree: " + a.shapeInfoToString() + (transA ? "^T" : "")
                    + " x " + b.shapeInfoToString() + (transB ? "^T" : "") + " -> " + out.shapeInfoToString());
        }
        int lda = (int) a.columns();
        int ldb = (int) b.columns();
        float bt = (float) beta;
        int threads = (long) m * n * k < GEMM_SPLIT_MIN ? 1 : CoreTeam.shared().size();
        if (products == MatmulPrecision.BF16) {
            gemmBf16(a, b, out, transA, transB, m, n, k, bt, threads, epilogue);
            return;
        }
        // Each core takes a band of the output, one single-threaded OpenBLAS call (see the constructor).
        // Bands across the longer side: measured on the weight gradients (128 x 512 from k = 768),
        // column bands are 10-15% faster than row bands, and the reverse on the activations.
        boolean columns = n > m;
        CoreTeam.shared().run(threads, t -> {
            int size = columns ? n : m;
            int from = (int) ((long) size * t / threads);
            int to = (int) ((long) size * (t + 1) / threads);
            if (columns) {
                sgemm(transA, transB, m, to - from, k, pointer(a, 0), lda,
                        pointer(b, transB ? (long) from * ldb : from), ldb, bt, pointer(out, from), n);
            } else {
                sgemm(transA, transB, to - from, n, k, pointer(a, transA ? from : (long) from * lda), lda,
                        pointer(b, 0), ldb, bt, pointer(out, (long) from * n), n);
            }
            if (epilogue != null) {
                epilogue.run(columns ? 0 : from, columns ? m : to, columns ? from : 0, columns ? to : n);
            }
        });
    }

    /**
     * {@link #gemm} in bf16: both operands narrowed to bfloat16 (round to nearest even, over the cores), then the
     * same bands as the float32 product, each one MKL bf16 product accumulated in float32.
     */
    private void gemmBf16(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB, int m, int n, int k,
                          float beta, int threads, BandEpilogue epilogue) {
        int lda = (int) a.columns();
        int ldb = (int) b.columns();
        Bf16Operands ops = BF16_OPERANDS.get();
        ShortPointer a16 = ops.first(a.length());
        ShortPointer b16 = ops.second(b.length());
        narrow(a, a16);
        narrow(b, b16);
        boolean columns = n > m;
        CoreTeam.shared().run(threads, t -> {
            int size = columns ? n : m;
            int from = (int) ((long) size * t / threads);
            int to = (int) ((long) size * (t + 1) / threads);
            CpuBlas blas = CpuBlas.get();
            if (columns) {
                blas.gemmBf16(transA, transB, m, to - from, k, at(a16, 0), lda,
                        at(b16, transB ? (long) from * ldb : from), ldb, beta, pointer(out, from), n);
            } else {
                blas.gemmBf16(transA, transB, to - from, n, k, at(a16, transA ? from : (long) from * lda), lda,
                        at(b16, 0), ldb, beta, pointer(out, (long) from * n), n);
            }
            if (epilogue != null) {
                epilogue.run(columns ? 0 : from, columns ? m : to, columns ? from : 0, columns ? to : n);
            }
        });
    }

    /** A thread's bfloat16 copies of a product's two operands, grown as needed (a rank's thread has its own). */
    private static final class Bf16Operands {
        private ShortPointer first = new ShortPointer(0L);
        private ShortPointer second = new ShortPointer(0L);

        ShortPointer first(long values) {
            if (first.capacity() < values) {
                first.close();
                first = new ShortPointer(values);
            }
            return first;
        }

        ShortPointer second(long values) {
            if (second.capacity() < values) {
                second.close();
                second = new ShortPointer(values);
            }
            return second;
        }
    }

    private static final ThreadLocal<Bf16Operands> BF16_OPERANDS = ThreadLocal.withInitial(Bf16Operands::new);

    /** {@code to[i] = bfloat16(from[i])} over the whole contiguous array, split over the cores. */
    private static void narrow(INDArray from, ShortPointer to) {
        FloatBuffer in = buffer(from);
        java.nio.ShortBuffer out = new ShortPointer(to).capacity(from.length()).asBuffer();
        rows((int) from.length(), 1, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                out.put(i, BFloat16.fromFloat(in.get(i)));
            }
        });
    }

    /** The pointer {@code offset} values past {@code p}'s start. */
    private static ShortPointer at(ShortPointer p, long offset) {
        return new ShortPointer(p).position(offset);
    }

    /** One row-major BLAS product ({@link CpuBlas}) on the calling thread, on strided matrices. */
    static void sgemm(boolean transA, boolean transB, int m, int n, int k, FloatPointer a, int lda, FloatPointer b,
                      int ldb, float beta, FloatPointer c, int ldc) {
        CpuBlas.get().sgemm(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc);
    }

    /** Each product is small (T x D by D x T): OpenBLAS runs it on one thread, so slices go over the cores. */
    @Override
    public void batchedGemm(INDArray a, INDArray b, INDArray out, boolean transA, boolean transB) {
        long[] as = a.shape();
        long[] bs = b.shape();
        long[] os = out.shape();
        int slices = (int) (os[0] * os[1]);
        int m = (int) os[2];
        int n = (int) os[3];
        int k = (int) (transA ? as[2] : as[3]);
        long aSize = as[2] * as[3];
        long bSize = bs[2] * bs[3];
        long oSize = (long) m * n;
        rows(slices, oSize * k, (from, to) -> {
            for (int i = from; i < to; i++) {
                sgemm(transA, transB, m, n, k, pointer(a, i * aSize), (int) as[3], pointer(b, i * bSize), (int) bs[3], 0f,
                        pointer(out, i * oSize), n);
            }
        });
    }

    @Override
    public void add(INDArray x, INDArray y) {
        rows((int) x.length(), 1, (from, to) -> addRange(x, y, from, to));
    }

    /** {@code x += y} over values [from, to), on the calling thread. */
    void addRange(INDArray x, INDArray y, int from, int to) {
        addSpan(buffer(x), buffer(y), from, to);
    }

    /** {@code x += y} over values [from, to): this engine's loop and the vector engine's tail. */
    static void addSpan(FloatBuffer xs, FloatBuffer ys, int from, int to) {
        for (int i = from; i < to; i++) {
            xs.put(i, xs.get(i) + ys.get(i));
        }
    }

    @Override
    public void addBias(INDArray y, INDArray bias) {
        if (bias == null) {
            return;
        }
        int c = (int) y.columns();
        rows((int) y.rows(), c, (from, to) -> addBiasBlock(y, bias, from, to, 0, c));
    }

    /** {@code y[r, j] += bias[j]} over a block of rows and columns, on the calling thread (no bias: nothing). */
    void addBiasBlock(INDArray y, INDArray bias, int rowFrom, int rowTo, int colFrom, int colTo) {
        if (bias == null) {
            return;
        }
        int c = (int) y.columns();
        FloatBuffer ys = buffer(y);
        FloatBuffer b = buffer(bias);
        for (int r = rowFrom; r < rowTo; r++) {
            for (int j = colFrom; j < colTo; j++) {
                ys.put(r * c + j, ys.get(r * c + j) + b.get(j));
            }
        }
    }

    @Override
    public void adamW(INDArray params, INDArray grads, INDArray m, INDArray v, INDArray decayMask, AdamW.Update u) {
        FloatBuffer p = buffer(params);
        FloatBuffer g = buffer(grads);
        FloatBuffer ms = buffer(m);
        FloatBuffer vs = buffer(v);
        FloatBuffer mask = buffer(decayMask);
        rows((int) params.length(), 1, (from, to) -> adamWSpan(u, p, g, ms, vs, mask, from, to));
    }

    /** One AdamW update of values [from, to): this engine's loop and the vector engine's tail. */
    static void adamWSpan(AdamW.Update u, FloatBuffer p, FloatBuffer g, FloatBuffer ms, FloatBuffer vs,
                          FloatBuffer mask, int from, int to) {
        float b1 = (float) u.beta1();
        float b2 = (float) u.beta2();
        float c1 = (float) u.c1();
        float c2 = (float) u.c2();
        float eps = (float) u.eps();
        float lr = (float) u.lr();
        float decay = (float) (u.lr() * u.weightDecay());
        float scale = (float) u.gradScale();
        for (int i = from; i < to; i++) {
            float gi = g.get(i) * scale;
            g.put(i, 0f);
            float mi = b1 * ms.get(i) + (1 - b1) * gi;
            float vi = b2 * vs.get(i) + (1 - b2) * gi * gi;
            ms.put(i, mi);
            vs.put(i, vi);
            float step = (mi / c1) / ((float) Math.sqrt(vi / c2) + eps);
            p.put(i, p.get(i) * (1 - decay * mask.get(i)) - lr * step);
        }
    }

    @FunctionalInterface
    interface RowRange {
        void run(int from, int to);
    }

    /** Runs body over [0, rows) in contiguous chunks, one per core when the work is large enough. */
    static void rows(int rows, long valuesPerRow, RowRange body) {
        int threads = Math.min(CoreTeam.shared().size(), rows);
        if (threads <= 1 || rows * valuesPerRow < PARALLEL_MIN) {
            body.run(0, rows);
            return;
        }
        CoreTeam.shared().run(threads, t -> body.run(
                (int) ((long) rows * t / threads), (int) ((long) rows * (t + 1) / threads)));
    }

    /**
     * Runs body over column bands of [0, columns) on the cores, band edges on whole cache lines. For
     * sums down columns: each column's sum runs over the rows in order on one core, so the result
     * does not depend on the number of cores.
     */
    static void columns(int columns, long rows, RowRange body) {
        int lines = (columns + 15) / 16;
        int threads = Math.min(CoreTeam.shared().size(), lines);
        if (threads <= 1 || columns * rows < PARALLEL_MIN) {
            body.run(0, columns);
            return;
        }
        CoreTeam.shared().run(threads, t -> body.run(Math.min(columns, lines * t / threads * 16),
                Math.min(columns, lines * (t + 1) / threads * 16)));
    }

    @Override
    public double sumOfSquares(INDArray x) {
        int len = (int) x.length();
        int parts = len < PARALLEL_MIN ? 1 : CoreTeam.shared().size();
        double[] partial = new double[parts];
        CoreTeam.shared().run(parts, t -> partial[t] = sumOfSquaresSpan(x, (int) ((long) len * t / parts),
                (int) ((long) len * (t + 1) / parts)));
        double sum = 0;
        for (double p : partial) {
            sum += p;
        }
        return sum;
    }

    /** The sum of squares of values [from, to), on the calling thread. */
    double sumOfSquaresSpan(INDArray x, int from, int to) {
        FloatBuffer xs = buffer(x);
        double sum = 0;
        for (int i = from; i < to; i++) {
            float v = xs.get(i);
            sum += v * v;
        }
        return sum;
    }

    /**
     * For columns [from, to), on the calling thread: {@code sums[j] += sum over rows r of d[r, j]}
     * and, when h is not null, {@code hSums[j] += sum over rows r of d[r, j] * h[r, j]}.
     */
    void columnSumsBand(INDArray d, INDArray h, INDArray hSums, INDArray sums, int from, int to) {
        int n = (int) d.rows();
        int c = (int) d.columns();
        FloatBuffer ds = buffer(d);
        FloatBuffer hs = h == null ? null : buffer(h);
        FloatBuffer t = buffer(sums);
        FloatBuffer th = h == null ? null : buffer(hSums);
        for (int j = from; j < to; j++) {
            float sum = 0;
            float hSum = 0;
            for (int r = 0; r < n; r++) {
                float v = ds.get(r * c + j);
                sum += v;
                if (hs != null) {
                    hSum += v * hs.get(r * c + j);
                }
            }
            t.put(j, t.get(j) + sum);
            if (th != null) {
                th.put(j, th.get(j) + hSum);
            }
        }
    }

    @Override
    public void layerNorm(INDArray x, INDArray gain, INDArray bias, INDArray y, INDArray xhat, INDArray rstd) {
        int n = (int) x.rows();
        int c = (int) x.columns();
        FloatBuffer xs = buffer(x);
        FloatBuffer g = buffer(gain);
        FloatBuffer b = buffer(bias);
        FloatBuffer ys = buffer(y);
        FloatBuffer hs = buffer(xhat);
        FloatBuffer rs = buffer(rstd);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                float mean = 0;
                for (int j = 0; j < c; j++) {
                    mean += xs.get(o + j);
                }
                mean /= c;
                float var = 0;
                for (int j = 0; j < c; j++) {
                    float d = xs.get(o + j) - mean;
                    var += d * d;
                }
                float inv = (float) (1.0 / Math.sqrt(var / c + GptConfig.LN_EPS));
                rs.put(r, inv);
                for (int j = 0; j < c; j++) {
                    float h = (xs.get(o + j) - mean) * inv;
                    hs.put(o + j, h);
                    ys.put(o + j, h * g.get(j) + b.get(j));
                }
            }
        });
    }

    @Override
    public void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray dgain,
                                  INDArray dbias, INDArray dx, boolean accumulate) {
        int n = (int) dy.rows();
        int c = (int) dy.columns();
        FloatBuffer d = buffer(dy);
        FloatBuffer h = buffer(xhat);
        FloatBuffer rs = buffer(rstd);
        FloatBuffer g = buffer(gain);
        FloatBuffer out = buffer(dx);
        // Rows are independent; the gain and bias sums go down columns (see columns()).
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                float m1 = 0;
                float m2 = 0;
                for (int j = 0; j < c; j++) {
                    float dxh = d.get(o + j) * g.get(j);
                    m1 += dxh;
                    m2 += dxh * h.get(o + j);
                }
                m1 /= c;
                m2 /= c;
                float inv = rs.get(r);
                for (int j = 0; j < c; j++) {
                    float v = (d.get(o + j) * g.get(j) - m1 - h.get(o + j) * m2) * inv;
                    out.put(o + j, accumulate ? out.get(o + j) + v : v);
                }
            }
        });
        columnSums(dy, xhat, dgain, dbias);
    }

    @Override
    public void rmsNorm(INDArray x, INDArray gain, double eps, INDArray y, INDArray rstd) {
        int n = (int) x.rows();
        int c = (int) x.columns();
        FloatBuffer xs = buffer(x);
        FloatBuffer g = buffer(gain);
        FloatBuffer ys = buffer(y);
        FloatBuffer rs = buffer(rstd);
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                float ms = 0;
                for (int j = 0; j < c; j++) {
                    float v = xs.get(o + j);
                    ms += v * v;
                }
                float inv = (float) (1.0 / Math.sqrt(ms / c + eps));
                rs.put(r, inv);
                for (int j = 0; j < c; j++) {
                    ys.put(o + j, xs.get(o + j) * inv * g.get(j));
                }
            }
        });
    }

    @Override
    public void rmsNormBackward(INDArray dy, INDArray x, INDArray rstd, INDArray gain, INDArray dgain, INDArray dx,
                                boolean accumulate) {
        int n = (int) dy.rows();
        int c = (int) dy.columns();
        FloatBuffer d = buffer(dy);
        FloatBuffer xs = buffer(x);
        FloatBuffer rs = buffer(rstd);
        FloatBuffer g = buffer(gain);
        FloatBuffer out = buffer(dx);
        // dx_j = r (g_j dy_j - x_j r^2 mean_k(g_k dy_k x_k)): rows are independent
        rows(n, c, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * c;
                float m = 0;
                for (int j = 0; j < c; j++) {
                    m += g.get(j) * d.get(o + j) * xs.get(o + j);
                }
                m /= c;
                float inv = rs.get(r);
                float k = inv * inv * m;
                for (int j = 0; j < c; j++) {
                    float v = inv * (g.get(j) * d.get(o + j) - xs.get(o + j) * k);
                    out.put(o + j, accumulate ? out.get(o + j) + v : v);
                }
            }
        });
        // dgain_j = sum over rows of dy_j x_j r, down each column in row order (deterministic), in column bands
        FloatBuffer dg = buffer(dgain);
        columns(c, n, (from, to) -> {
            float[] sums = new float[to - from];
            for (int r = 0; r < n; r++) {
                float inv = rs.get(r);
                for (int j = from; j < to; j++) {
                    sums[j - from] += d.get(r * c + j) * xs.get(r * c + j) * inv;
                }
            }
            for (int j = from; j < to; j++) {
                dg.put(j, dg.get(j) + sums[j - from]);
            }
        });
    }

    @Override
    public void rope(INDArray x, int time, int from, int heads, int d, INDArray cos, INDArray sin, boolean inverse) {
        int n = (int) x.rows();
        int width = (int) x.columns();
        int half = d / 2;
        FloatBuffer xs = buffer(x);
        FloatBuffer cs = buffer(cos);
        FloatBuffer ss = buffer(sin);
        float sign = inverse ? -1f : 1f;
        rows(n, (long) heads * d, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int pos = from + r % time;
                for (int h = 0; h < heads; h++) {
                    int o = r * width + h * d;
                    for (int i = 0; i < half; i++) {
                        float co = cs.get(pos * half + i);
                        float si = sign * ss.get(pos * half + i);
                        float a = xs.get(o + i);
                        float b = xs.get(o + i + half);
                        xs.put(o + i, a * co - b * si);
                        xs.put(o + i + half, b * co + a * si);
                    }
                }
            }
        });
    }

    @Override
    public void swiglu(INDArray gateUp, INDArray out) {
        FloatBuffer gu = buffer(gateUp);
        FloatBuffer o = buffer(out);
        int inter = (int) out.columns();
        rows((int) out.rows(), inter, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g = 2 * r * inter;
                for (int i = 0; i < inter; i++) {
                    float v = gu.get(g + i);
                    o.put(r * inter + i, v / (1f + FastExp.exp(-v)) * gu.get(g + inter + i));
                }
            }
        });
    }

    @Override
    public void swigluBackward(INDArray dout, INDArray gateUp, INDArray dgateUp) {
        FloatBuffer d = buffer(dout);
        FloatBuffer gu = buffer(gateUp);
        FloatBuffer dgu = buffer(dgateUp);
        int inter = (int) dout.columns();
        rows((int) dout.rows(), inter, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g = 2 * r * inter;
                for (int i = 0; i < inter; i++) {
                    float v = gu.get(g + i);
                    float s = 1f / (1f + FastExp.exp(-v)); // sigmoid; silu = v s, silu' = s (1 + v (1 - s))
                    float dv = d.get(r * inter + i);
                    dgu.put(g + i, dv * gu.get(g + inter + i) * s * (1f + v * (1f - s)));
                    dgu.put(g + inter + i, dv * v * s);
                }
            }
        });
    }

    @Override
    public void repeatKv(INDArray qkv, INDArray full, int heads, int kvHeads, int d) {
        FloatBuffer src = buffer(qkv);
        FloatBuffer dst = buffer(full);
        int group = heads / kvHeads;
        int in = (heads + 2 * kvHeads) * d;
        int out = 3 * heads * d;
        rows((int) qkv.rows(), out, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                FloatBuffer from = src.slice(r * in, in);
                FloatBuffer to = dst.slice(r * out, out);
                to.put(0, from, 0, heads * d);
                for (int part = 1; part <= 2; part++) {
                    for (int h = 0; h < heads; h++) {
                        to.put(part * heads * d + h * d, from, (heads + (part - 1) * kvHeads + h / group) * d, d);
                    }
                }
            }
        });
    }

    @Override
    public void repeatKvBackward(INDArray dfull, INDArray dqkv, int heads, int kvHeads, int d) {
        FloatBuffer src = buffer(dfull);
        FloatBuffer dst = buffer(dqkv);
        int group = heads / kvHeads;
        int in = 3 * heads * d;
        int out = (heads + 2 * kvHeads) * d;
        rows((int) dfull.rows(), in, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int i0 = r * in;
                int o0 = r * out;
                dst.put(o0, src, i0, heads * d);
                for (int part = 1; part <= 2; part++) {
                    for (int k = 0; k < kvHeads; k++) {
                        int o = o0 + (heads + (part - 1) * kvHeads + k) * d;
                        for (int i = 0; i < d; i++) {
                            float sum = 0;
                            for (int j = 0; j < group; j++) {
                                sum += src.get(i0 + part * heads * d + (k * group + j) * d + i);
                            }
                            dst.put(o + i, sum);
                        }
                    }
                }
            }
        });
    }

    /** {@code target[offset + j] += values[j]}. */
    static void addInto(INDArray target, int offset, float[] values) {
        FloatBuffer t = buffer(target);
        for (int j = 0; j < values.length; j++) {
            t.put(offset + j, t.get(offset + j) + values[j]);
        }
    }

    /** tanh from one exp: 1 - 2 / (e^{2u} + 1), exact to float rounding and saturating cleanly. */
    private static float tanh(float u) {
        return 1f - 2f / (FastExp.exp(2f * u) + 1f);
    }

    @Override
    public INDArray gelu(INDArray x, INDArray out) {
        INDArray th = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        rows((int) x.length(), 1, (from, to) -> geluRange(x, out, th, from, to));
        return th;
    }

    /**
     * GELU of values [from, to) of x into y, and its tanh into th for the backward pass (recomputing
     * it there costs more than writing and reading it), on the calling thread.
     */
    void geluRange(INDArray x, INDArray y, INDArray th, int from, int to) {
        geluSpan(buffer(x), buffer(y), buffer(th), from, to);
    }

    /** GELU of values [from, to) into ys, the tanh into ts: this engine's loop and the vector engine's tail. */
    static void geluSpan(FloatBuffer xs, FloatBuffer ys, FloatBuffer ts, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = xs.get(i);
            float t = tanh(K * (v + C * v * v * v));
            ts.put(i, t);
            ys.put(i, 0.5f * v * (1f + t));
        }
    }

    @Override
    public INDArray geluBackward(INDArray dy, INDArray x, INDArray th) {
        rows((int) x.length(), 1, (from, to) -> geluBackwardRange(dy, x, th, from, to));
        return dy;
    }

    /** {@code dy *= GELU'(x)} over values [from, to), on the calling thread. */
    void geluBackwardRange(INDArray dy, INDArray x, INDArray th, int from, int to) {
        geluBackwardSpan(buffer(dy), buffer(x), buffer(th), from, to);
    }

    /** {@code dy *= GELU'(x)} over values [from, to): this engine's loop and the vector engine's tail. */
    static void geluBackwardSpan(FloatBuffer ds, FloatBuffer xs, FloatBuffer ts, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = xs.get(i);
            float t = ts.get(i);
            float grad = 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * K * (1f + 3f * C * v * v);
            ds.put(i, ds.get(i) * grad);
        }
    }

    @Override
    public void causalSoftmax(INDArray scores, int time, double scale) {
        rows((int) scores.rows(), time, (from, to) -> causalSoftmaxRows(scores, from, to, time, (float) scale));
    }

    /** {@link #causalSoftmax} of rows [from, to) of {@code scores [*, T]}, on the calling thread. */
    void causalSoftmaxRows(INDArray scores, int from, int to, int time, float sc) {
        FloatBuffer s = buffer(scores);
        for (int r = from; r < to; r++) {
            int o = r * time;
            int seen = r % time + 1;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < seen; j++) {
                max = Math.max(max, s.get(o + j) * sc);
            }
            float sum = 0;
            for (int j = 0; j < seen; j++) {
                float e = FastExp.exp(s.get(o + j) * sc - max);
                s.put(o + j, e);
                sum += e;
            }
            float inv = 1f / sum;
            for (int j = 0; j < seen; j++) {
                s.put(o + j, s.get(o + j) * inv);
            }
            for (int j = seen; j < time; j++) {
                s.put(o + j, 0f);
            }
        }
    }

    @Override
    public void softmaxBackward(INDArray probs, INDArray dprobs, double scale) {
        rows((int) probs.rows(), probs.columns(), (from, to) -> softmaxBackwardRows(probs, dprobs, from, to, (float) scale));
    }

    /** {@link #softmaxBackward} of rows [from, to), on the calling thread. */
    void softmaxBackwardRows(INDArray probs, INDArray dprobs, int from, int to, float sc) {
        int t = (int) probs.columns();
        FloatBuffer p = buffer(probs);
        FloatBuffer d = buffer(dprobs);
        for (int r = from; r < to; r++) {
            int o = r * t;
            float dot = 0;
            for (int j = 0; j < t; j++) {
                dot += p.get(o + j) * d.get(o + j);
            }
            for (int j = 0; j < t; j++) {
                d.put(o + j, p.get(o + j) * (d.get(o + j) - dot) * sc);
            }
        }
    }

    /**
     * Attention without splitting heads apart: each (sequence, head) pair's products read q, k and v
     * in place from {@code qkv} (BLAS strides over the other heads' columns) and write the output
     * straight into its columns of {@code y}; the pair's softmax runs between its two products, while
     * its scores are still in cache. Pairs go over the cores.
     */
    @Override
    public void attention(INDArray qkv, INDArray dropout, INDArray probs, INDArray y, int batch, int time, int heads) {
        int c = (int) (qkv.columns() / 3);
        int d = c / heads;
        long tt = (long) time * time;
        float scale = (float) (1.0 / Math.sqrt(d));
        INDArray rowsView = probs.reshape('c', (long) batch * heads * time, time);
        INDArray used = dropout == null ? probs : Nd4j.createUninitialized(DataType.FLOAT, probs.shape());
        rows(batch * heads, tt * d, (from, to) -> {
            for (int i = from; i < to; i++) {
                long q = headOffset(i, heads, time, 3 * c, d);
                sgemm(false, true, time, time, d, pointer(qkv, q), 3 * c, pointer(qkv, q + c), 3 * c, 0f,
                        pointer(probs, i * tt), time);
                causalSoftmaxRows(rowsView, i * time, (i + 1) * time, time, scale);
                if (dropout != null) {
                    multiplySpan(buffer(used), buffer(probs), buffer(dropout), (int) (i * tt), (int) ((i + 1) * tt));
                }
                sgemm(false, false, time, d, time, pointer(used, i * tt), time, pointer(qkv, q + 2L * c), 3 * c, 0f,
                        pointer(y, headOffset(i, heads, time, c, d)), c);
            }
        });
    }

    /** Backward of {@link #attention}, the same way: per (sequence, head) pair, strided, over the cores. */
    @Override
    public void attentionBackward(INDArray dy, INDArray qkv, INDArray dropout, INDArray probs, INDArray dqkv,
                                  int batch, int time, int heads) {
        int c = (int) (qkv.columns() / 3);
        int d = c / heads;
        long tt = (long) time * time;
        float scale = (float) (1.0 / Math.sqrt(d));
        INDArray ds = Nd4j.createUninitialized(DataType.FLOAT, (long) batch * heads * time, time);
        INDArray probRows = probs.reshape('c', (long) batch * heads * time, time);
        INDArray used = dropout == null ? probs : Nd4j.createUninitialized(DataType.FLOAT, probs.shape());
        rows(batch * heads, tt * d, (from, to) -> {
            for (int i = from; i < to; i++) {
                long q = headOffset(i, heads, time, 3 * c, d);
                long out = headOffset(i, heads, time, c, d);
                FloatPointer dsi = pointer(ds, i * tt);
                sgemm(false, true, time, time, d, pointer(dy, out), c, pointer(qkv, q + 2L * c), 3 * c, 0f, dsi, time);
                if (dropout != null) {
                    int f = (int) (i * tt);
                    int e = (int) ((i + 1) * tt);
                    multiplySpan(buffer(used), buffer(probs), buffer(dropout), f, e);
                    multiplySpan(buffer(ds), buffer(ds), buffer(dropout), f, e);
                }
                sgemm(true, false, time, d, time, pointer(used, i * tt), time, pointer(dy, out), c, 0f,
                        pointer(dqkv, q + 2L * c), 3 * c);
                softmaxBackwardRows(probRows, ds, i * time, (i + 1) * time, scale);
                sgemm(false, false, time, d, time, dsi, time, pointer(qkv, q + c), 3 * c, 0f, pointer(dqkv, q), 3 * c);
                sgemm(true, false, time, d, time, dsi, time, pointer(qkv, q), 3 * c, 0f, pointer(dqkv, q + c), 3 * c);
            }
        });
    }

    /** {@link Kernels#cacheKeysValues}: each head's row copied to its place, without ND4J ops. */
    @Override
    public void cacheKeysValues(INDArray qkv, INDArray keys, INDArray values, int from, int time) {
        long[] s = keys.shape();
        int batch = (int) s[0];
        int heads = (int) s[1];
        int length = (int) s[2];
        int d = (int) s[3];
        int width = (int) qkv.columns();
        FloatBuffer src = buffer(qkv);
        FloatBuffer[] dst = {buffer(keys), buffer(values)};
        for (int part = 1; part <= 2; part++) {
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    for (int t = 0; t < time; t++) {
                        dst[part - 1].put(((b * heads + h) * length + from + t) * d, src,
                                (b * time + t) * width + (part * heads + h) * d, d);
                    }
                }
            }
        }
    }

    /** {@link Kernels#cachedAttention}: two BLAS products per (sequence, head) pair on the cache in place. */
    @Override
    public void cachedAttention(INDArray qkv, INDArray keys, INDArray values, int len, INDArray y) {
        long[] s = keys.shape();
        int heads = (int) s[1];
        long slab = s[2] * s[3];
        int d = (int) s[3];
        int c = (int) y.columns();
        int pairs = (int) (s[0] * heads);
        INDArray scores = Nd4j.createUninitialized(DataType.FLOAT, pairs, len);
        rows(pairs, (long) len * d, (from, to) -> {
            for (int i = from; i < to; i++) {
                sgemm(false, true, 1, len, d, pointer(qkv, (long) (i / heads) * 3 * c + (long) (i % heads) * d), 3 * c,
                        pointer(keys, i * slab), d, 0f, pointer(scores, (long) i * len), len);
            }
        });
        softmaxRows(scores, (float) (1.0 / Math.sqrt(d)), scores);
        rows(pairs, (long) len * d, (from, to) -> {
            for (int i = from; i < to; i++) {
                sgemm(false, false, 1, d, len, pointer(scores, (long) i * len), len, pointer(values, i * slab), d, 0f,
                        pointer(y, (long) (i / heads) * c + (long) (i % heads) * d), c);
            }
        });
    }

    /** Offset of head h of sequence b (pair i = b * heads + h) in a {@code [B*T, width]} matrix of heads of size d. */
    private static long headOffset(int i, int heads, int time, int width, int d) {
        return (long) (i / heads) * time * width + (long) (i % heads) * d;
    }

    /** {@code out = a * b} elementwise over values [from, to). */
    static void multiplySpan(FloatBuffer out, FloatBuffer a, FloatBuffer b, int from, int to) {
        for (int i = from; i < to; i++) {
            out.put(i, a.get(i) * b.get(i));
        }
    }

    @Override
    public double[] softmaxRows(INDArray x, float scale, INDArray out) {
        int n = (int) x.rows();
        int v = (int) x.columns();
        FloatBuffer in = buffer(x);
        FloatBuffer o = buffer(out);
        double[] lse = new double[n];
        rows(n, v, (from, to) -> {
            for (int r = from; r < to; r++) {
                lse[r] = softmaxRow(in, o, r * v, v, scale, 1f);
            }
        });
        return lse;
    }

    /**
     * {@code out[base, base + v) = outScale · softmax(scale · in[base, base + v))} ({@code out} may be
     * {@code in}, or null for the sum alone); returns the row's log-sum-exp of {@code scale · in}.
     */
    private static double softmaxRow(FloatBuffer in, FloatBuffer out, int base, int v, float scale, float outScale) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < v; j++) {
            max = Math.max(max, in.get(base + j) * scale);
        }
        double sum = 0;
        if (out == null) {
            for (int j = 0; j < v; j++) {
                sum += FastExp.exp(in.get(base + j) * scale - max);
            }
        } else {
            for (int j = 0; j < v; j++) {
                float e = FastExp.exp(in.get(base + j) * scale - max);
                out.put(base + j, e);
                sum += e;
            }
            float norm = (float) (outScale / sum);
            for (int j = 0; j < v; j++) {
                out.put(base + j, out.get(base + j) * norm);
            }
        }
        return max + Math.log(sum);
    }

    @Override
    public double crossEntropy(INDArray logits, int[] targets, INDArray grad, double scale) {
        int n = (int) logits.rows();
        int v = (int) logits.columns();
        FloatBuffer l = buffer(logits);
        FloatBuffer g = grad == null ? null : buffer(grad);
        double[] rowLoss = new double[n];
        float perRow = (float) (scale / n);
        rows(n, v, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * v;
                float target = l.get(o + targets[r]); // before the gradient overwrites it: grad may be logits
                rowLoss[r] = softmaxRow(l, g, o, v, 1f, perRow) - target;
                if (g != null) {
                    g.put(o + targets[r], g.get(o + targets[r]) - perRow);
                }
            }
        });
        double loss = 0;
        for (double x : rowLoss) {
            loss += x;
        }
        return loss / n;
    }

    @Override
    public void addColumnSums(INDArray dy, INDArray target) {
        columnSums(dy, null, null, target);
    }

    /** {@code sums += column sums of dy} and {@code hSums += those of dy * h} (h not null), in column bands. */
    void columnSums(INDArray dy, INDArray h, INDArray hSums, INDArray sums) {
        columns((int) dy.columns(), dy.rows(), (from, to) -> columnSumsBand(dy, h, hSums, sums, from, to));
    }

    @Override
    public INDArray gatherRows(INDArray table, int[] ids) {
        int c = (int) table.columns();
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, ids.length, c);
        FloatBuffer src = buffer(table);
        FloatBuffer dst = buffer(out);
        for (int i = 0; i < ids.length; i++) {
            dst.put(i * c, src, ids[i] * c, c);
        }
        return out;
    }

    @Override
    public void scatterAddRows(INDArray table, int[] ids, INDArray rows) {
        int c = (int) table.columns();
        FloatBuffer t = buffer(table);
        FloatBuffer src = buffer(rows);
        for (int i = 0; i < ids.length; i++) {
            int to = ids[i] * c;
            int from = i * c;
            for (int j = 0; j < c; j++) {
                t.put(to + j, t.get(to + j) + src.get(from + j));
            }
        }
    }

    @Override
    public INDArray splitHeads(INDArray qkv, int which, int batch, int time, int heads, int headSize) {
        int width = (int) qkv.columns();
        int d = headSize;
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, batch, heads, time, d);
        FloatBuffer src = buffer(qkv);
        FloatBuffer dst = buffer(out);
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < time; t++) {
                    dst.put(((b * heads + h) * time + t) * d, src, (b * time + t) * width + (which * heads + h) * d, d);
                }
            }
        }
        return out;
    }

    @Override
    public void mergeHeads(INDArray y, INDArray out, int which) {
        long[] s = y.shape();
        int batch = (int) s[0];
        int heads = (int) s[1];
        int time = (int) s[2];
        int d = (int) s[3];
        int width = (int) out.columns();
        FloatBuffer src = buffer(y);
        FloatBuffer dst = buffer(out);
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < time; t++) {
                    dst.put((b * time + t) * width + (which * heads + h) * d, src, ((b * heads + h) * time + t) * d, d);
                }
            }
        }
    }
}
