package org.distillery.core.io;

/**
 * IEEE 754 half precision (binary16), the storage type of fp16 tensors and of teacher logits:
 * float32 to half rounds to nearest, ties to even (as PyTorch's {@code .half()}), with subnormals,
 * infinities and NaN (as 0x7e00, PyTorch's NaN).
 */
public final class Float16 {
    private Float16() {
    }

    /** The half nearest {@code v}. */
    public static short fromFloat(float v) {
        return fromFloatBits(Float.floatToRawIntBits(v));
    }

    /**
     * {@link #fromFloat(float)} of the float with these bits. Branch-light, after F. Giesen's
     * float_to_half_fast3_rtne: subnormal results come from one float addition that lets the FPU round.
     */
    public static short fromFloatBits(int bits) {
        int sign = bits & 0x80000000;
        bits ^= sign;
        int h;
        if (bits >= 0x47800000) { // 65536 or more, infinity, NaN
            h = bits > 0x7F800000 ? 0x7E00 : 0x7C00;
        } else if (bits < 0x38800000) { // below half's smallest normal: subnormal or zero
            h = Float.floatToRawIntBits(Float.intBitsToFloat(bits) + 0.5f) - 0x3F000000;
        } else {
            int odd = (bits >>> 13) & 1;
            bits += ((15 - 127) << 23) + 0xFFF + odd;
            h = bits >>> 13; // a carry into the exponent rounds up to the next binade, or to infinity
        }
        return (short) (h | (sign >>> 16));
    }

    /** The float a half holds (exactly). */
    public static float toFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            float v = mant * 0x1p-24f; // subnormal: mant * 2^-24
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }
}
