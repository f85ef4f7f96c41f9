package org.distillery.core.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeMap;

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
        TreeMap<String, Long> sorted = new TreeMap<>(wordCounts);
        int nWords = sorted.size();
        int[][] words = new int[nWords][];
        long[] counts = new long[nWords];
        int w = 0;
        for (Map.Entry<String, Long> e : sorted.entrySet()) {
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
            counts[w] = e.getValue();
            w++;
        }

        Map<Long, long[]> pairCounts = new HashMap<>();
        Map<Long, IntBag> where = new HashMap<>();
        for (int i = 0; i < nWords; i++) {
            int[] s = words[i];
            for (int j = 0; j + 1 < s.length; j++) {
                long k = PairTable.key(s[j], s[j + 1]);
                if (initialPairCounts == null) {
                    pairCounts.computeIfAbsent(k, x -> new long[1])[0] += counts[i];
                }
                where.computeIfAbsent(k, x -> new IntBag()).add(i);
            }
        }
        if (initialPairCounts != null) {
            initialPairCounts.forEach((k, c) -> pairCounts.put(k, new long[] {c}));
        }

        PriorityQueue<Candidate> queue = new PriorityQueue<>();
        pairCounts.forEach((k, c) -> {
            if (c[0] > 0) {
                queue.add(new Candidate(k, c[0]));
            }
        });

        Map<String, Integer> tokenIds = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            tokenIds.put(tokens.get(i), i);
        }
        List<BpeTokenizer.Merge> merges = new ArrayList<>();
        int maxMerges = vocabSize - tokens.size();
        int[] stamp = new int[nWords];
        Arrays.fill(stamp, -1);
        Map<Long, Long> delta = new LinkedHashMap<>();
        while (tokens.size() < vocabSize && !queue.isEmpty()) {
            Candidate top = queue.poll();
            long[] current = pairCounts.get(top.key);
            long count = current == null ? 0 : current[0];
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

            delta.clear();
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
                    delta.merge(PairTable.key(s[j], s[j + 1]), -c, Long::sum);
                }
                for (int j = 0; j + 1 < merged.length; j++) {
                    long k = PairTable.key(merged[j], merged[j + 1]);
                    delta.merge(k, c, Long::sum);
                    if (merged[j] == z || merged[j + 1] == z) {
                        where.computeIfAbsent(k, x -> new IntBag()).add(wi);
                    }
                }
                words[wi] = merged;
            }
            delta.forEach((k, d) -> {
                if (d == 0 || k == top.key) {
                    return;
                }
                long[] pc = pairCounts.computeIfAbsent(k, x -> new long[1]);
                pc[0] += d;
                if (pc[0] > 0) {
                    queue.add(new Candidate(k, pc[0]));
                } else {
                    pairCounts.remove(k);
                }
            });
            progress.merged(tokens.size() - (vocabSize - maxMerges), maxMerges);
        }

        return new BpeTokenizer(tokenIds, merges, specialTokens);
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
