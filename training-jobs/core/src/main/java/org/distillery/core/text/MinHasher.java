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

    /** The signature of a document: for each permutation, the least permuted shingle hash. */
    public long[] signature(String text) {
        long[] sig = new long[a.length];
        Arrays.fill(sig, Long.MAX_VALUE);
        for (long h : shingleHashes(text)) {
            long x = h & PRIME;
            for (int i = 0; i < sig.length; i++) {
                long v = mulAddMod(a[i], x, b[i]);
                if (v < sig[i]) {
                    sig[i] = v;
                }
            }
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
        String[] words = text.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+");
        List<String> w = new ArrayList<>(words.length);
        for (String s : words) {
            if (!s.isEmpty()) {
                w.add(s);
            }
        }
        List<Long> out = new ArrayList<>();
        if (w.size() <= shingleWords) {
            out.add(hash(String.join(" ", w)));
            return out;
        }
        for (int i = 0; i + shingleWords <= w.size(); i++) {
            out.add(hash(String.join(" ", w.subList(i, i + shingleWords))));
        }
        return out;
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
