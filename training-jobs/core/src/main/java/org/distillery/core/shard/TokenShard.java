package org.distillery.core.shard;

/**
 * The token shard format, version 1: a 32-byte little-endian header, then the tokens.
 *
 * <pre>
 * offset size  field
 *  0      8    magic, the ASCII bytes "DSTSHRD" and a zero byte
 *  8      4    format version (u32) = 1
 * 12      4    bytes per token (u32): 2 (uint16) or 4 (uint32)
 * 16      8    token count (u64)
 * 24      8    document count (u64)
 * 32      ...  token ids, little-endian, documents one after another, each ended by the
 *              end-of-text token named in the manifest
 * </pre>
 *
 * The file's length is exactly 32 + count × width; the manifest beside it holds each shard's
 * SHA-256. numpy reads one with {@code np.memmap(path, dtype='<u2', mode='r', offset=32)}.
 */
public final class TokenShard {
    public static final byte[] MAGIC = {'D', 'S', 'T', 'S', 'H', 'R', 'D', 0};
    public static final int VERSION = 1;
    public static final int HEADER_BYTES = 32;

    private TokenShard() {
    }

    /** Token width in bytes for a vocabulary of {@code vocabSize} ids. */
    public static int widthFor(int vocabSize) {
        return vocabSize <= 65536 ? 2 : 4;
    }

    public static String dtypeName(int width) {
        return width == 2 ? "uint16" : "uint32";
    }
}
