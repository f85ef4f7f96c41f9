package org.distillery.model;

/**
 * {@code exp} for floats in about two nanoseconds: Cephes' {@code expf} (range reduction by ln 2 in
 * two parts, a degree-6 polynomial, the power of two built from bits). {@link Math#exp} costs about
 * ten nanoseconds here, which made the softmax over a 4096-token vocabulary the slowest part of a step.
 * Relative error below 2e-7 over the whole float range ({@code FastExpTest}).
 *
 * <p>Only float adds, multiplies and bit moves, in the order the vector engine's exp runs them: n =
 * rint(x log2 e) by adding and subtracting 1.5 * 2^23 (whose ulp is 1, so the sum's low mantissa bits are
 * n), never a float-to-int conversion, which Java 17 does not compile to SIMD on AVX2 (docs/findings.md).
 */
public final class FastExp {
    static final float LOG2E = 1.44269504088896341f;
    static final float LN2_HI = 0.693359375f;
    static final float LN2_LO = -2.12194440e-4f;
    /**
     * Arguments are clamped to [MIN_ARG, MAX_ARG] (NaN stays NaN), whose exps round to 0 and overflow to infinity:
     * e^-104.5 is below half the smallest subnormal, e^89 above the largest float. In between, subnormal results
     * are rounded once, correctly.
     */
    static final float MIN_ARG = -104.5f;
    static final float MAX_ARG = 89f;
    /** 1.5 * 2^23: t + ROUNDER holds rint(t) in its low mantissa bits for |t| < 2^22. */
    static final float ROUNDER = 12582912f;
    static final int ROUNDER_BITS = Float.floatToRawIntBits(ROUNDER);
    /** The polynomial's coefficients, highest degree first; the vector engine's exp uses the same ones. */
    static final float P0 = 1.9875691500e-4f;
    static final float P1 = 1.3981999507e-3f;
    static final float P2 = 8.3334519073e-3f;
    static final float P3 = 4.1665795894e-2f;
    static final float P4 = 1.6666665459e-1f;
    static final float P5 = 5.0000001201e-1f;

    private FastExp() {
    }

    public static float exp(float x) {
        x = Math.min(Math.max(x, MIN_ARG), MAX_ARG);
        float y = x * LOG2E + ROUNDER;
        float n = y - ROUNDER;
        float r = x - n * LN2_HI - n * LN2_LO;
        float p = ((((r * P0 + P1) * r + P2) * r + P3) * r + P4) * r + P5;
        p = p * r * r + r + 1f;
        // n is in [-151, 128]; 2^n as two normal halves 2^h 2^(n-h): p 2^h is exact and the second product rounds
        // once, as p 2^n would, to a subnormal, zero or infinity where the result is one.
        int e = Float.floatToRawIntBits(y) - ROUNDER_BITS;
        int h = e >> 1;
        return p * pow2(h) * pow2(e - h);
    }

    /** 2^k for k in [-126, 127]: h and n - h above are in [-76, 64]. */
    static float pow2(int k) {
        return Float.intBitsToFloat((k + 127) << 23);
    }
}
