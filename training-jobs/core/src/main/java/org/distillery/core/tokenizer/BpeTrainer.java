package org.distillery.core.tokenizer;

import com.carrotsearch.hppc.LongLongHashMap;
import com.carrotsearch.hppc.LongObjectHashMap;
import com.carrotsearch.hppc.cursors.LongLongCursor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Learns byte-level BPE merges from a table of pre-tokenized pieces ("words", as byte-level
 * strings) and their counts. Counting the words over a corpus is the expensive, parallel part and
 * belongs to the caller (prep does it on Spark, together with the initial pair counts); what
 * remains here is the sequential merge loop over the unique words, with incremental pair-count
 * updates, as in Hugging Face {@code tokenizers}' trainer.
 *
 * <p>Ids: special tokens first, then the 256 byte tokens in byte order, then one per merge.
 * The most frequent pair is merged first; ties go to the smaller (left id, right id). The result
 * is fully determined by the counts, whatever order they arrive in.
 */
public final class BpeTrainer {
    private final int vocabSize;
    private final long minFrequency;
    private final List<String> specialTokens;

    /** Called after each merge, for progress reporting: (merges done, merges at most). */
    @FunctionalInterface
    public interface Progress {
        void merged(int done, int total);
    }

    public BpeTrainer(int vocabSize, long minFrequency, List<String> specialTokens) {
        if (vocabSize < 256 + specialTokens.size()) {
            throw new IllegalArgumentException("vocab_size " + vocabSize + " is below the "
                    + (256 + specialTokens.size()) + " tokens that bytes and special tokens need");
        }
        this.vocabSize = vocabSize;
        this.minFrequency = Math.max(1, minFrequency);
        this.specialTokens = List.copyOf(specialTokens);
    }

    /** The id the trainer gives byte {@code b}: after the special tokens. */
    public int byteId(int b) {
        return specialTokens.size() + b;
    }

    public BpeTokenizer train(Map<String, Long> wordCounts) {
        return train(wordCounts, null, (d, t) -> { });
    }

    /**
     * @param wordCounts        byte-level piece → occurrences in the corpus
     * @param initialPairCounts adjacent byte-pair counts over the corpus, keyed by {@link PairTable#key}
     *                          of {@link #byteId} ids, when the caller has counted them (on Spark);
     *                          null to count them here
     */
    public BpeTokenizer train(Map<String, Long> wordCounts, Map<Long, Long> initialPairCounts, Progress progress) {
        List<String> tokens = new ArrayList<>(specialTokens);
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.charOf(b)));
        }
        // Words are merged in place: words[w][0, lengths[w]) are word w's symbols. Their order is moot: each
        // word's merges and the counts they add up to are the same whatever order they are visited in.
        int nWords = wordCounts.size();
        int[][] words = new int[nWords][];
        int[] lengths = new int[nWords];
        long[] counts = new long[nWords];
        int w = 0;
        for (Map.Entry<String, Long> e : wordCounts.entrySet()) {
            String word = e.getKey();
            int[] syms = new int[word.length()];
            for (int i = 0; i < syms.length; i++) {
                int b = ByteLevel.byteOf(word.charAt(i));
                if (b < 0) {
                    throw new IllegalArgumentException("word '" + word + "' is not a byte-level string");
                }
                syms[i] = byteId(b);
            }
            words[w] = syms;
            lengths[w] = syms.length;
            counts[w] = e.getValue();
            w++;
        }

        // Pair keys are (left << 32 | right) of ids below a few thousand: Long.hashCode folds them onto left ^ right,
        // which piles a HashMap's entries into a few tree bins. HPPC's maps mix the bits and do not box.
        LongLongHashMap pairCounts = new LongLongHashMap();
        LongObjectHashMap<IntBag> where = new LongObjectHashMap<>();
        for (int i = 0; i < nWords; i++) {
            int[] s = words[i];
            for (int j = 0; j + 1 < s.length; j++) {
                long k = PairTable.key(s[j], s[j + 1]);
                if (initialPairCounts == null) {
                    pairCounts.addTo(k, counts[i]);
                }
                bagOf(where, k).add(i);
            }
        }
        if (initialPairCounts != null) {
            initialPairCounts.forEach(pairCounts::put);
        }

        PriorityQueue<Candidate> queue = new PriorityQueue<>();
        for (LongLongCursor c : pairCounts) {
            if (c.value > 0) {
                queue.add(new Candidate(c.key, c.value));
            }
        }

        Map<String, Integer> tokenIds = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            tokenIds.put(tokens.get(i), i);
        }
        List<BpeTokenizer.Merge> merges = new ArrayList<>();
        int maxMerges = vocabSize - tokens.size();
        int[] stamp = new int[nWords];
        Arrays.fill(stamp, -1);
        while (tokens.size() < vocabSize && !queue.isEmpty()) {
            Candidate top = queue.poll();
            long count = pairCounts.get(top.key);
            if (count != top.count) {
                if (count > 0) {
                    queue.add(new Candidate(top.key, count));
                }
                continue;
            }
            if (count < minFrequency) {
                break;
            }
            int a = (int) (top.key >>> 32);
            int b = (int) top.key;
            String joined = tokens.get(a) + tokens.get(b);
            // Two merges can spell the same token ("a"+"bc", "ab"+"c"): it keeps one id, as in tokenizers.
            Integer existing = tokenIds.get(joined);
            int z = existing != null ? existing : tokens.size();
            if (existing == null) {
                tokens.add(joined);
                tokenIds.put(joined, z);
            }
            merges.add(new BpeTokenizer.Merge(tokens.get(a), tokens.get(b)));
            int mergeNo = merges.size();

            // A map per merge: a cleared one keeps its capacity, and walking it would cost its largest size again.
            LongLongHashMap delta = new LongLongHashMap();
            IntBag bag = where.remove(top.key);
            pairCounts.remove(top.key);
            for (int idx = 0; idx < bag.size; idx++) {
                int wi = bag.items[idx];
                if (stamp[wi] == mergeNo) {
                    continue;
                }
                stamp[wi] = mergeNo;
                int[] s = words[wi];
                int n = lengths[wi];
                if (!contains(s, n, a, b)) {
                    continue;
                }
                long c = counts[wi];
                for (int j = 0; j + 1 < n; j++) {
                    delta.addTo(PairTable.key(s[j], s[j + 1]), -c);
                }
                n = mergeInPlace(s, n, a, b, z);
                lengths[wi] = n;
                for (int j = 0; j + 1 < n; j++) {
                    long k = PairTable.key(s[j], s[j + 1]);
                    delta.addTo(k, c);
                    if (s[j] == z || s[j + 1] == z) {
                        bagOf(where, k).add(wi);
                    }
                }
            }
            // The queue orders candidates completely (count, then ids), so the order they are added in is moot.
            // A count that fell needs no entry: the pair's older, higher one is found stale when it comes up
            // and goes back in with the count of the moment.
            for (LongLongCursor d : delta) {
                if (d.value == 0 || d.key == top.key) {
                    continue;
                }
                long pc = pairCounts.addTo(d.key, d.value);
                if (pc <= 0) {
                    pairCounts.remove(d.key);
                } else if (d.value > 0) {
                    queue.add(new Candidate(d.key, pc));
                }
            }
            progress.merged(tokens.size() - (vocabSize - maxMerges), maxMerges);
        }

        return new BpeTokenizer(tokenIds, merges, specialTokens);
    }

    private static IntBag bagOf(LongObjectHashMap<IntBag> where, long key) {
        IntBag bag = where.get(key);
        if (bag == null) {
            bag = new IntBag();
            where.put(key, bag);
        }
        return bag;
    }

    private static boolean contains(int[] s, int n, int a, int b) {
        for (int i = 0; i + 1 < n; i++) {
            if (s[i] == a && s[i + 1] == b) {
                return true;
            }
        }
        return false;
    }

    /** Replaces each non-overlapping (a, b) of s[0, n), left to right, by z, in place; returns the new length. */
    private static int mergeInPlace(int[] s, int n, int a, int b, int z) {
        int out = 0;
        for (int i = 0; i < n; i++) {
            if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                s[out++] = z;
                i++;
            } else {
                s[out++] = s[i];
            }
        }
        return out;
    }

    private record Candidate(long key, long count) implements Comparable<Candidate> {
        @Override
        public int compareTo(Candidate o) {
            if (count != o.count) {
                return Long.compare(o.count, count);
            }
            int la = (int) (key >>> 32);
            int lb = (int) (o.key >>> 32);
            if (la != lb) {
                return Integer.compare(la, lb);
            }
            return Integer.compare((int) key, (int) o.key);
        }
    }

    /** Word indices, possibly repeated; repeats are skipped by a stamp when merging. */
    private static final class IntBag {
        int[] items = new int[4];
        int size;

        void add(int v) {
            if (size > 0 && items[size - 1] == v) {
                return;
            }
            if (size == items.length) {
                items = Arrays.copyOf(items, size * 2);
            }
            items[size++] = v;
        }
    }
}
