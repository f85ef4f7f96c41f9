package org.distillery.core.tokenizer;

import java.util.Arrays;

/**
 * The merge table of a BPE model: (left id, right id) → merge rank and merged id, as an
 * open-addressing hash table on primitive longs. Encoding looks a pair up for every adjacent
 * pair it considers, so boxing keys in a HashMap would dominate the encoder's time.
 */
final class PairTable {
    private final long[] keys;
    private final int[] ranks;
    private final int[] merged;
    private final int mask;

    PairTable(int capacity) {
        int size = Integer.highestOneBit(Math.max(4, capacity * 2) - 1) << 1;
        keys = new long[size];
        Arrays.fill(keys, -1L);
        ranks = new int[size];
        merged = new int[size];
        mask = size - 1;
    }

    static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    void put(int left, int right, int rank, int mergedId) {
        long k = key(left, right);
        int i = slot(k);
        while (keys[i] != -1L && keys[i] != k) {
            i = (i + 1) & mask;
        }
        keys[i] = k;
        ranks[i] = rank;
        merged[i] = mergedId;
    }

    /** The slot of (left, right), or -1 if the pair has no merge. */
    int find(int left, int right) {
        long k = key(left, right);
        int i = slot(k);
        while (true) {
            long at = keys[i];
            if (at == k) {
                return i;
            }
            if (at == -1L) {
                return -1;
            }
            i = (i + 1) & mask;
        }
    }

    int rankAt(int slot) {
        return ranks[slot];
    }

    int mergedAt(int slot) {
        return merged[slot];
    }

    private int slot(long k) {
        long h = k * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 40) & mask;
    }
}
