package org.distillery.core.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible map between bytes and printable characters: every byte becomes one visible
 * code point, so a vocabulary of strings can hold any byte sequence. Printable Latin-1 bytes map
 * to themselves; the others to U+0100 onwards, in byte order (the space, 0x20, becomes 'Ġ').
 */
public final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The visible character that stands for byte {@code b} (0..255). */
    public static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a visible character stands for, or -1 if it stands for none. */
    public static int byteOf(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The UTF-8 bytes of {@code text}, each as its visible character. */
    public static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /** Inverse of {@link #encode}: the bytes that a string of visible characters stands for. */
    public static byte[] decode(CharSequence visible) {
        byte[] out = new byte[visible.length()];
        for (int i = 0; i < out.length; i++) {
            int b = byteOf(visible.charAt(i));
            if (b < 0) {
                throw new IllegalArgumentException("character U+" + Integer.toHexString(visible.charAt(i))
                        + " at index " + i + " is not a byte-level character");
            }
            out[i] = (byte) b;
        }
        return out;
    }
}
