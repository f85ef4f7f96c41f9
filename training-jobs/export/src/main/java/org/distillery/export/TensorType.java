package org.distillery.export;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * The floating-point element types Distillery writes: float32, and the two 16-bit types serving
 * stacks load (IEEE half and bfloat16). Narrowing rounds to nearest, ties to even, as PyTorch's
 * {@code .half()} and {@code .bfloat16()} do, so an export equals what a Python conversion of the
 * same float32 weights would give, bit for bit.
 */
public enum TensorType {
    F32(4),
    F16(2),
    BF16(2);

    private final int bytes;

    TensorType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** The name used on the command line and in specs: fp32, fp16 or bf16. */
    public String optionName() {
        return switch (this) {
            case F32 -> "fp32";
            case F16 -> "fp16";
            case BF16 -> "bf16";
        };
    }

    /** fp32, fp16 or bf16 (also f32, f16, float32, float16, bfloat16); an error naming what is expected otherwise. */
    public static TensorType parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32" -> F32;
            case "fp16", "f16", "float16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown dtype '" + name + "': expected fp32, fp16 or bf16");
        };
    }

    /** Appends {@code v} in this type, little-endian ({@code out} must be in little-endian order). */
    public void put(ByteBuffer out, float v) {
        switch (this) {
            case F32 -> out.putFloat(v);
            case F16 -> out.putShort(toHalf(v));
            case BF16 -> out.putShort(toBfloat16(v));
        }
    }

    /** Reads one value of this type at the buffer's position (little-endian order). */
    public float get(ByteBuffer in) {
        return switch (this) {
            case F32 -> in.getFloat();
            case F16 -> fromHalf(in.getShort());
            case BF16 -> fromBfloat16(in.getShort());
        };
    }

    /** float32 to bfloat16: the top 16 bits, rounded to nearest even; NaN stays a (quiet) NaN. */
    static short toBfloat16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    static float fromBfloat16(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /** float32 to IEEE 754 half, rounded to nearest even, with subnormals, infinities and NaN. */
    static short toHalf(float v) {
        int bits = Float.floatToRawIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) { // infinity or NaN
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1F) { // too large: infinity
            return (short) (sign | 0x7C00);
        }
        if (e <= 0) { // subnormal half, or zero
            if (e < -10) {
                return (short) sign;
            }
            int m = mant | 0x800000; // the implicit bit
            int shift = 14 - e;
            int half = m >>> shift;
            int rest = m & ((1 << shift) - 1);
            int midpoint = 1 << (shift - 1);
            if (rest > midpoint || (rest == midpoint && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rest = mant & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, up to infinity: that is the right rounding
        }
        return (short) (sign | half);
    }

    static float fromHalf(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal: mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
