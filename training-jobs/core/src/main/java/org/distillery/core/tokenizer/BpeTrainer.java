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
        // Words in a fixed order, so "where" lists and hence results never depend on map order.
        String[] sorted = wordCounts.keySet().toArray(String[]::new);
        Arrays.sort(sorted);
        int nWords = sorted.length;
        int[][] words = new int[nWords][];
        long[] counts = new long[nWords];
        for (int w = 0; w < nWords; w++) {
            String word = sorted[w];
            int[] syms = new int[word.length()];
            for (int i = 0; i < syms.length; i++) {
                int b = ByteLevel.byteOf(word.charAt(i));
                if (b < 0) {
                    throw new IllegalArgumentException("word '" + word + "' is not a byte-level string");
                }
                syms[i] = byteId(b);
            }
            words[w] = syms;
            counts[w] = wordCounts.get(word);
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
                int[] merged = mergeWord(s, a, b, z);
                if (merged == s) {
                    continue;
                }
                long c = counts[wi];
                for (int j = 0; j + 1 < s.length; j++) {
                    delta.addTo(PairTable.key(s[j], s[j + 1]), -c);
                }
                for (int j = 0; j + 1 < merged.length; j++) {
                    long k = PairTable.key(merged[j], merged[j + 1]);
                    delta.addTo(k, c);
                    if (merged[j] == z || merged[j + 1] == z) {
                        bagOf(where, k).add(wi);
                    }
                }
                words[wi] = merged;
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

    /** Replaces each non-overlapping (a, b), left to right, by z; returns {@code s} itself if none. */
    private static int[] mergeWord(int[] s, int a, int b, int z) {
        int n = 0;
        int[] out = null;
        for (int i = 0; i < s.length; i++) {
            if (i + 1 < s.length && s[i] == a && s[i + 1] == b) {
                if (out == null) {
                    out = new int[s.length - 1];
                    System.arraycopy(s, 0, out, 0, i);
                    n = i;
                }
                out[n++] = z;
                i++;
            } else if (out != null) {
                out[n++] = s[i];
            }
        }
        return out == null ? s : Arrays.copyOf(out, n);
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
