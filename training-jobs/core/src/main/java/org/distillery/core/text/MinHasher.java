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
    /** Whether the JVM has the Vector API, which {@link MinHashLanes} uses. */
    static final boolean LANES = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private final int shingleWords;
    private final int bands;
    private final int rows;
    private final int[] seeds;

    public MinHasher(int shingleWords, int bands, int rows, long seed) {
        if (shingleWords < 1 || bands < 1 || rows < 1) {
            throw new IllegalArgumentException("shingle_words, bands and rows must be at least 1");
        }
        this.shingleWords = shingleWords;
        this.bands = bands;
        this.rows = rows;
        seeds = new int[bands * rows];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < seeds.length; i++) {
            seeds[i] = rnd.nextInt();
        }
    }

    public int bands() {
        return bands;
    }

    /**
     * The signature of a document: for each permutation, the least permuted shingle hash. Permutation i
     * of a 32-bit shingle hash x is {@code fmix32(x ^ seed_i)}, MurmurHash3's finalizer: a bijection of
     * the 32-bit values with full avalanche, so each seed gives an independent-looking permutation, and
     * "least" is the signed order. Computed on SIMD lanes, a permutation per lane, when the JVM has the
     * Vector API; else one permutation at a time. Both are integer arithmetic, so they agree bit for bit.
     */
    public int[] signature(String text) {
        long[] hashes = shingleHashArray(text);
        int[] xs = new int[hashes.length];
        for (int k = 0; k < xs.length; k++) {
            xs[k] = (int) (hashes[k] ^ (hashes[k] >>> 32));
        }
        int[] sig = new int[seeds.length];
        int from = LANES ? MinHashLanes.minimums(seeds, xs, sig) : 0;
        minimums(seeds, from, xs, sig);
        return sig;
    }

    /** Permutations [from, seeds.length) of the signature, one at a time, on scalar registers. */
    static void minimums(int[] seeds, int from, int[] xs, int[] sig) {
        for (int i = from; i < seeds.length; i++) {
            int seed = seeds[i];
            int min = Integer.MAX_VALUE;
            for (int x : xs) {
                min = Math.min(min, fmix32(x ^ seed));
            }
            sig[i] = min;
        }
    }

    /** MurmurHash3's 32-bit finalizer. */
    static int fmix32(int h) {
        h = (h ^ (h >>> 16)) * 0x85ebca6b;
        h = (h ^ (h >>> 13)) * 0xc2b2ae35;
        return h ^ (h >>> 16);
    }

    /** One key per band; documents sharing any key are near-duplicate candidates. */
    public long[] bandKeys(int[] signature) {
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
    public static double similarity(int[] s1, int[] s2) {
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
}
