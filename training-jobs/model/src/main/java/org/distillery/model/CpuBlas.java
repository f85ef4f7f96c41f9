package org.distillery.model;

import java.util.Locale;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.ShortPointer;
import org.bytedeco.mkl.global.mkl_rt;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.slf4j.LoggerFactory;

/**
 * The BLAS library that the CPU engines send matrix products to, chosen once per JVM: Intel MKL
 * where its libraries load (the cpu profile ships them), otherwise the OpenBLAS 0.3.19 that libnd4j
 * links. On the layer shapes of a small GPT, MKL's single-threaded sgemm is 10-50% faster here, a
 * tenth of a training step. {@code -Ddistillery.blas=openblas} (or {@code mkl}) forces one.
 *
 * <p>Both run single-threaded: the engines split products over the cores themselves.
 */
enum CpuBlas {
    MKL {
        @Override
        void sgemm(boolean transA, boolean transB, int m, int n, int k, FloatPointer a, int lda, FloatPointer b,
                   int ldb, float beta, FloatPointer c, int ldc) {
            mkl_rt.cblas_sgemm(mkl_rt.CblasRowMajor, transA ? mkl_rt.CblasTrans : mkl_rt.CblasNoTrans,
                    transB ? mkl_rt.CblasTrans : mkl_rt.CblasNoTrans, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
        }

        @Override
        boolean bf16Products() {
            return true;
        }

        @Override
        void gemmBf16(boolean transA, boolean transB, int m, int n, int k, ShortPointer a, int lda, ShortPointer b,
                      int ldb, float beta, FloatPointer c, int ldc) {
            mkl_rt.cblas_gemm_bf16bf16f32(mkl_rt.CblasRowMajor, transA ? mkl_rt.CblasTrans : mkl_rt.CblasNoTrans,
                    transB ? mkl_rt.CblasTrans : mkl_rt.CblasNoTrans, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
        }
    },
    OPENBLAS {
        @Override
        void sgemm(boolean transA, boolean transB, int m, int n, int k, FloatPointer a, int lda, FloatPointer b,
                   int ldb, float beta, FloatPointer c, int ldc) {
            openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor,
                    transA ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans,
                    transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans, m, n, k, 1f, a, lda, b,
                    ldb, beta, c, ldc);
        }
    };

    /** The system property that forces a library: {@code mkl} or {@code openblas}. */
    static final String PROPERTY = "distillery.blas";

    /** {@code c = op(a) op(b) + beta c} for row-major matrices with leading dimensions, on the calling thread. */
    abstract void sgemm(boolean transA, boolean transB, int m, int n, int k, FloatPointer a, int lda, FloatPointer b,
                        int ldb, float beta, FloatPointer c, int ldc);

    /** Whether this library multiplies bfloat16 matrices into float32 ({@link #gemmBf16}). OpenBLAS 0.3.19's
     * preset has no sbgemm. */
    boolean bf16Products() {
        return false;
    }

    /** {@code c = op(a) op(b) + beta c} with bfloat16 {@code a} and {@code b}, accumulated and stored in float32. */
    void gemmBf16(boolean transA, boolean transB, int m, int n, int k, ShortPointer a, int lda, ShortPointer b,
                  int ldb, float beta, FloatPointer c, int ldc) {
        throw new UnsupportedOperationException(name() + " has no bf16 products");
    }

    /** The library of this JVM, loaded on first use. */
    static CpuBlas get() {
        return Holder.CHOSEN;
    }

    private static final class Holder {
        static final CpuBlas CHOSEN = choose(System.getProperty(PROPERTY, "auto"));
    }

    private static CpuBlas choose(String wanted) {
        String w = wanted.trim().toLowerCase(Locale.ROOT);
        if (!w.equals("auto") && !w.equals("mkl") && !w.equals("openblas")) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + wanted + ": expected auto, mkl or openblas");
        }
        if (w.equals("openblas")) {
            return OPENBLAS;
        }
        try {
            Loader.load(mkl_rt.class);
            // The preset ships no sequential layer, so MKL runs its GNU OpenMP layer (the libgomp that
            // libnd4j already uses, not a second OpenMP runtime) on one thread. Set before any other call.
            mkl_rt.MKL_Set_Threading_Layer(mkl_rt.MKL_THREADING_GNU);
            mkl_rt.MKL_Set_Num_Threads(1);
            return MKL;
        } catch (Throwable t) { // UnsatisfiedLinkError or NoClassDefFoundError where MKL's libraries are absent
            if (w.equals("mkl")) {
                throw new IllegalStateException("-D" + PROPERTY + "=mkl, but Intel MKL does not load: " + t, t);
            }
            LoggerFactory.getLogger(CpuBlas.class).info("Intel MKL does not load ({}); matrix products run on OpenBLAS",
                    t.toString());
            return OPENBLAS;
        }
    }
}
