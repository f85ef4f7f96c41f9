package org.distillery.model.distill;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.FloatBuffer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TopKLogitsTest {
    @Test
    void keepsTheLargestRelativeToTheTopAndTheRestsMassAtTheTemperature() {
        float[] row = {1f, 5f, -2f, 5f, 3f, 0.5f};
        int[] ids = new int[3];
        float[] values = new float[3];
        float[] rest = new float[1];
        new TopKLogits(6, 3, 2.0).select(FloatBuffer.wrap(row), 0, ids, values, rest, 0);
        assertArrayEquals(new int[] {1, 3, 4}, ids, "largest first, ties to the lower id");
        assertArrayEquals(new float[] {0f, 0f, -2f}, values);
        double others = Math.exp((1 - 5) / 2.0) + Math.exp((-2 - 5) / 2.0) + Math.exp((0.5 - 5) / 2.0);
        assertEquals(Math.log(others), rest[0], 1e-6);
    }

    /** On random rows the k + 1 buckets hold exactly the softmax's mass, and nothing left out beats the k-th. */
    @Test
    void theBucketsHoldTheWholeDistribution() {
        SplittableRandom r = new SplittableRandom(3);
        int vocab = 300;
        int k = 7;
        int rows = 5;
        float[] logits = new float[rows * vocab];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 4 - 30);
        }
        TopKLogits top = new TopKLogits(vocab, k, 1.5);
        int[] ids = new int[3 * rows * k];
        float[] values = new float[3 * rows * k];
        float[] rest = new float[3 * rows];
        for (int row = 0; row < rows; row++) {
            top.select(FloatBuffer.wrap(logits), row, ids, values, rest, row + 2); // at an offset into the arrays
        }
        for (int row = 0; row < rows; row++) {
            int at = row + 2;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, logits[row * vocab + v]);
            }
            double total = 0;
            for (int v = 0; v < vocab; v++) {
                total += Math.exp((logits[row * vocab + v] - max) / 1.5);
            }
            double kept = Math.exp(rest[at]);
            java.util.Set<Integer> chosen = new java.util.HashSet<>();
            for (int i = 0; i < k; i++) {
                int id = ids[at * k + i];
                chosen.add(id);
                assertEquals(logits[row * vocab + id] - max, values[at * k + i], 1e-5);
                kept += Math.exp(values[at * k + i] / 1.5);
                if (i > 0) {
                    assertEquals(true, values[at * k + i] <= values[at * k + i - 1], "sorted");
                }
            }
            for (int v = 0; v < vocab; v++) {
                if (!chosen.contains(v)) {
                    assertEquals(true, logits[row * vocab + v] - max <= values[at * k + k - 1], "id " + v + " left out");
                }
            }
            assertEquals(total, kept, 1e-5 * total);
        }
    }

    @Test
    void aVanishingRestStaysFiniteAndKMustLeaveARest() {
        float[] row = {0f, -500f, -600f};
        int[] ids = new int[2];
        float[] values = new float[2];
        float[] rest = new float[1];
        new TopKLogits(3, 2, 1.0).select(FloatBuffer.wrap(row), 0, ids, values, rest, 0);
        assertEquals(TopKLogits.REST_FLOOR, rest[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new TopKLogits(3, 3, 1.0));
        assertEquals("top_k must be in [1, 2] for a vocabulary of 3, found 3", e.getMessage());
    }
}
