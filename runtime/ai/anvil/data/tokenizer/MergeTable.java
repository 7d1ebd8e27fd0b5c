package ai.anvil.data.tokenizer;

import java.util.Arrays;

/**
 * The merges of a BPE vocabulary as an open-addressing hash table from a pair of ids to its rank (its
 * position in the merges list; lower merges first) and the id it merges into.
 */
final class MergeTable {
    private final long[] keys;
    private final int[] ranks;
    private final int mask;
    private final int[] left;
    private final int[] right;
    private final int[] result;

    /** {@code left[r], right[r] -> result[r]} is merge {@code r}; a pair listed twice keeps its first rank. */
    MergeTable(int[] left, int[] right, int[] result) {
        this.left = left;
        this.right = right;
        this.result = result;
        int cap = Integer.highestOneBit(Math.max(4, left.length * 2 - 1)) << 1;
        keys = new long[cap];
        ranks = new int[cap];
        Arrays.fill(ranks, -1);
        mask = cap - 1;
        for (int r = 0; r < left.length; r++) {
            long k = key(left[r], right[r]);
            int slot = slot(k);
            while (ranks[slot] >= 0 && keys[slot] != k) {
                slot = (slot + 1) & mask;
            }
            if (ranks[slot] < 0) {
                keys[slot] = k;
                ranks[slot] = r;
            }
        }
    }

    int size() {
        return left.length;
    }

    /** The rank of merging {@code a} then {@code b}, or -1 when they do not merge. */
    int rank(int a, int b) {
        long k = key(a, b);
        int slot = slot(k);
        while (true) {
            int r = ranks[slot];
            if (r < 0 || keys[slot] == k) {
                return r;
            }
            slot = (slot + 1) & mask;
        }
    }

    int left(int rank) {
        return left[rank];
    }

    int right(int rank) {
        return right[rank];
    }

    int result(int rank) {
        return result[rank];
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xffffffffL);
    }

    private int slot(long k) {
        long h = k * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }
}
