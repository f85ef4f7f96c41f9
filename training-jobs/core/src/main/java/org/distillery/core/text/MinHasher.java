package org.distillery.core.text;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * MinHash signatures over word n-gram shingles, cut into LSH bands, for near-duplicate detection.
 * Two documents with Jaccard similarity s share at least one band with probability
 * 1 - (1 - s^rows)^bands; candidates are then confirmed by the signatures' agreement, an unbiased
 * estimate of s. Banding (rather than one hash per table, as Spark MLlib's MinHashLSH does) keeps
 * the candidate set small on large corpora, which is what dedup pipelines for LLM data use.
 *
 * <p>Deterministic: the permutations come from {@code seed}, so local and cluster runs agree.
 */
public final class MinHasher implements Serializable {
    private static final long PRIME = (1L << 61) - 1; // a Mersenne prime: fast exact modular arithmetic

    private final int shingleWords;
    private final int bands;
    private final int rows;
    private final long[] a;
    private final long[] b;

    public MinHasher(int shingleWords, int bands, int rows, long seed) {
        if (shingleWords < 1 || bands < 1 || rows < 1) {
            throw new IllegalArgumentException("shingle_words, bands and rows must be at least 1");
        }
        this.shingleWords = shingleWords;
        this.bands = bands;
        this.rows = rows;
        int n = bands * rows;
        a = new long[n];
        b = new long[n];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            a[i] = 1 + rnd.nextLong(PRIME - 1);
            b[i] = rnd.nextLong(PRIME);
        }
    }

    public int bands() {
        return bands;
    }

    /**
     * The signature of a document: for each permutation, the least permuted shingle hash. Each distinct
     * shingle is permuted once (a repeated one cannot lower a minimum), one permutation at a time over all
     * of them, so that the permutation's two constants stay in registers.
     */
    public long[] signature(String text) {
        long[] xs = shingleHashArray(text);
        Arrays.sort(xs);
        int n = 0;
        for (int i = 0; i < xs.length; i++) {
            long x = xs[i] & PRIME;
            if (i == 0 || xs[i] != xs[i - 1]) {
                xs[n++] = x;
            }
        }
        long[] sig = new long[a.length];
        for (int i = 0; i < sig.length; i++) {
            long ai = a[i];
            long bi = b[i];
            long min = Long.MAX_VALUE;
            for (int j = 0; j < n; j++) {
                long v = mulAddMod(ai, xs[j], bi);
                if (v < min) {
                    min = v;
                }
            }
            sig[i] = min;
        }
        return sig;
    }

    /** One key per band; documents sharing any key are near-duplicate candidates. */
    public long[] bandKeys(long[] signature) {
        long[] keys = new long[bands];
        for (int band = 0; band < bands; band++) {
            long h = 0x9E3779B97F4A7C15L * (band + 1);
            for (int r = 0; r < rows; r++) {
                h = mix(h ^ signature[band * rows + r]);
            }
            keys[band] = h;
        }
        return keys;
    }

    /** The fraction of permutations on which two signatures agree: an estimate of Jaccard similarity. */
    public static double similarity(long[] s1, long[] s2) {
        int same = 0;
        for (int i = 0; i < s1.length; i++) {
            if (s1[i] == s2[i]) {
                same++;
            }
        }
        return (double) same / s1.length;
    }

    /** Hashes of the lower-cased word n-grams; a document shorter than n words is one shingle. */
    List<Long> shingleHashes(String text) {
        List<Long> out = new ArrayList<>();
        for (long h : shingleHashArray(text)) {
            out.add(h);
        }
        return out;
    }

    /**
     * {@link #hash} of each shingle, the words (maximal runs of letters and numbers of the lower-cased text)
     * joined by one space, without building the strings: FNV-1a runs over the words' UTF-8 bytes in place.
     */
    long[] shingleHashArray(String text) {
        String lower = text.toLowerCase(Locale.ROOT);
        byte[] utf8 = lower.getBytes(StandardCharsets.UTF_8);
        // Word boundaries as byte offsets into utf8: starts[k], ends[k].
        int[] starts = new int[16];
        int[] ends = new int[16];
        int words = 0;
        int bytePos = 0;
        int wordStart = -1;
        for (int i = 0; i < lower.length(); ) {
            int cp = lower.codePointAt(i);
            int len = utf8Length(cp);
            boolean inWord = isWordChar(cp);
            if (inWord && wordStart < 0) {
                wordStart = bytePos;
            } else if (!inWord && wordStart >= 0) {
                if (words == starts.length) {
                    starts = Arrays.copyOf(starts, words * 2);
                    ends = Arrays.copyOf(ends, words * 2);
                }
                starts[words] = wordStart;
                ends[words++] = bytePos;
                wordStart = -1;
            }
            bytePos += len;
            i += Character.charCount(cp);
        }
        if (wordStart >= 0) {
            if (words == starts.length) {
                starts = Arrays.copyOf(starts, words + 1);
                ends = Arrays.copyOf(ends, words + 1);
            }
            starts[words] = wordStart;
            ends[words++] = bytePos;
        }
        if (words <= shingleWords) {
            return new long[] {mix(fnv(utf8, starts, ends, 0, words))};
        }
        long[] out = new long[words - shingleWords + 1];
        for (int i = 0; i < out.length; i++) {
            out[i] = mix(fnv(utf8, starts, ends, i, shingleWords));
        }
        return out;
    }

    /** FNV-1a over words [from, from + count) joined by single spaces. */
    private static long fnv(byte[] utf8, int[] starts, int[] ends, int from, int count) {
        long h = 0xcbf29ce484222325L;
        for (int w = from; w < from + count; w++) {
            if (w > from) {
                h ^= ' ';
                h *= 0x100000001b3L;
            }
            for (int k = starts[w]; k < ends[w]; k++) {
                h ^= utf8[k] & 0xFF;
                h *= 0x100000001b3L;
            }
        }
        return h;
    }

    /** {@code [\p{L}\p{N}]}: a letter, or a decimal digit, letter number or other number. */
    private static boolean isWordChar(int cp) {
        if (cp < 128) {
            return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
        }
        if (Character.isLetter(cp)) {
            return true;
        }
        int type = Character.getType(cp);
        return type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
                || type == Character.OTHER_NUMBER;
    }

    /** The bytes UTF-8 takes for {@code cp}, as String.getBytes writes it (a lone surrogate becomes '?'). */
    private static int utf8Length(int cp) {
        if (cp < 0x80) {
            return 1;
        }
        if (cp < 0x800) {
            return 2;
        }
        if (Character.isSurrogate((char) cp)) {
            return 1;
        }
        return cp < 0x10000 ? 3 : 4;
    }

    /** 64-bit FNV-1a over UTF-8, finished with a mixer; stable across JVMs, unlike String.hashCode. */
    static long hash(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte x : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= x & 0xFF;
            h *= 0x100000001b3L;
        }
        return mix(h);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** (a·x + b) mod 2^61-1 without overflow. */
    private static long mulAddMod(long a, long x, long b) {
        long hi = Math.multiplyHigh(a, x);
        long lo = a * x;
        // a·x = hi·2^64 + lo; reduce using 2^61 ≡ 1.
        long r = (lo & PRIME) + (lo >>> 61) + (hi << 3);
        r = (r & PRIME) + (r >>> 61);
        r += b;
        r = (r & PRIME) + (r >>> 61);
        return r >= PRIME ? r - PRIME : r;
    }
}
