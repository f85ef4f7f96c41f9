package org.distillery.model.distill;

import java.nio.FloatBuffer;
import org.distillery.model.FastExp;

/**
 * A teacher's distribution cut to what an offline distill run needs: per row of logits, the k largest
 * (ids and values, largest first, ties to the lower id) and the log-sum-exp at temperature τ of all the
 * others, so the k + 1 buckets still hold the whole mass. Values are relative to the row's maximum
 * (the top value is 0): softmax does not change under the shift, and it keeps the numbers small enough
 * for fp16, which is how the shards store them. The rest is floored at 80 nats below the top so a
 * vanishing bucket stays finite for the reverse KL's logarithm.
 */
public final class TopKLogits {
    /** How far below the top the rest's log-sum-exp may fall: e^-80 is far below any fp32 probability of use. */
    static final float REST_FLOOR = -80f;

    private final int vocab;
    private final int k;
    private final float invTemperature;
    private final float[] row;
    private final boolean[] chosen;
    /** Min-heap of the k best so far: value and id side by side. */
    private final float[] heapValue;
    private final int[] heapId;

    public TopKLogits(int vocab, int k, double temperature) {
        if (k < 1 || k >= vocab) {
            throw new IllegalArgumentException("top_k must be in [1, " + (vocab - 1) + "] for a vocabulary of " + vocab
                    + ", found " + k);
        }
        this.vocab = vocab;
        this.k = k;
        this.invTemperature = (float) (1.0 / temperature);
        this.row = new float[vocab];
        this.chosen = new boolean[vocab];
        this.heapValue = new float[k];
        this.heapId = new int[k];
    }

    public int k() {
        return k;
    }

    /**
     * Row {@code r} of {@code logits} (rows of {@code vocab} floats) into {@code ids[at*k ..]},
     * {@code values[at*k ..]} and {@code rest[at]}.
     */
    public void select(FloatBuffer logits, long r, int[] ids, float[] values, float[] rest, int at) {
        logits.get(Math.toIntExact(r * vocab), row, 0, vocab);
        int size = 0;
        for (int id = 0; id < vocab; id++) {
            float v = row[id];
            if (size < k) {
                heapValue[size] = v;
                heapId[size] = id;
                siftUp(size++);
            } else if (worse(heapValue[0], heapId[0], v, id)) {
                heapValue[0] = v;
                heapId[0] = id;
                siftDown(0, k);
            }
        }
        // Pop the heap from the back: smallest first, so the output ends up largest first.
        for (int n = k; n > 0; n--) {
            ids[at * k + n - 1] = heapId[0];
            values[at * k + n - 1] = heapValue[0];
            heapValue[0] = heapValue[n - 1];
            heapId[0] = heapId[n - 1];
            siftDown(0, n - 1);
        }
        float max = values[at * k];
        for (int i = 0; i < k; i++) {
            values[at * k + i] -= max;
            chosen[ids[at * k + i]] = true;
        }
        double sum = 0;
        for (int id = 0; id < vocab; id++) {
            if (!chosen[id]) {
                sum += FastExp.exp((row[id] - max) * invTemperature);
            }
        }
        for (int i = 0; i < k; i++) {
            chosen[ids[at * k + i]] = false;
        }
        rest[at] = Math.max(REST_FLOOR, (float) Math.log(sum));
    }

    /** Whether (va, ia) ranks below (vb, ib): a smaller value, or the same value and a larger id. */
    private static boolean worse(float va, int ia, float vb, int ib) {
        return va < vb || (va == vb && ia > ib);
    }

    private void siftUp(int i) {
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!worse(heapValue[i], heapId[i], heapValue[parent], heapId[parent])) {
                return;
            }
            swap(i, parent);
            i = parent;
        }
    }

    private void siftDown(int i, int n) {
        while (true) {
            int l = 2 * i + 1;
            int r = l + 1;
            int least = i;
            if (l < n && worse(heapValue[l], heapId[l], heapValue[least], heapId[least])) {
                least = l;
            }
            if (r < n && worse(heapValue[r], heapId[r], heapValue[least], heapId[least])) {
                least = r;
            }
            if (least == i) {
                return;
            }
            swap(i, least);
            i = least;
        }
    }

    private void swap(int a, int b) {
        float v = heapValue[a];
        heapValue[a] = heapValue[b];
        heapValue[b] = v;
        int id = heapId[a];
        heapId[a] = heapId[b];
        heapId[b] = id;
    }

    @Override
    public String toString() {
        return "top-" + k + " of " + vocab + " at τ=" + (1 / invTemperature);
    }
}
