package org.distillery.core.io;

/**
 * bfloat16, the top half of a float32: the storage type of bf16 tensors and the operands of bf16 matrix products.
 * float32 to bfloat16 rounds to nearest, ties to even (as PyTorch's {@code .bfloat16()}); NaN stays a quiet NaN.
 */
public final class BFloat16 {
    private BFloat16() {
    }

    /** The bfloat16 nearest {@code v}. */
    public static short fromFloat(float v) {
        return fromFloatBits(Float.floatToRawIntBits(v));
    }

    /** {@link #fromFloat(float)} of the float with these bits. */
    public static short fromFloatBits(int bits) {
        if ((bits & 0x7FFFFFFF) > 0x7F800000) { // NaN: keep it one, quiet, whatever its payload's low half
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** The float a bfloat16 holds (exactly). */
    public static float toFloat(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }
}
