package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.distillery.model.train.LearningRate;
import org.junit.jupiter.api.Test;

class SamplerTest {
    static final float[] LOGITS = {0.1f, 3.0f, 2.9f, -1f, 0.5f};

    @Test
    void greedyTopKOneAndTinyTopPAllPickTheArgmax() {
        assertEquals(1, new Sampler(0, 0, 1, 1).next(LOGITS));
        for (long seed = 0; seed < 20; seed++) {
            assertEquals(1, new Sampler(1.0, 1, 1, seed).next(LOGITS));
            assertEquals(1, new Sampler(1.0, 0, 0.01, seed).next(LOGITS));
        }
    }

    @Test
    void topKLimitsTheCandidatesAndTemperatureSpreadsThem() {
        Set<Integer> seen = new HashSet<>();
        Sampler s = new Sampler(1.0, 2, 1, 5);
        for (int i = 0; i < 200; i++) {
            seen.add(s.next(LOGITS));
        }
        assertEquals(Set.of(1, 2), seen);
        Set<Integer> all = new HashSet<>();
        Sampler hot = new Sampler(50.0, 0, 1, 5);
        for (int i = 0; i < 500; i++) {
            all.add(hot.next(LOGITS));
        }
        assertEquals(5, all.size());
    }

    @Test
    void topPKeepsTheSmallestSetReachingTheMass() {
        // softmax(LOGITS): p1 ≈ 0.47, p2 ≈ 0.43: top_p 0.8 keeps exactly tokens 1 and 2
        Set<Integer> seen = new HashSet<>();
        Sampler s = new Sampler(1.0, 0, 0.8, 9);
        for (int i = 0; i < 300; i++) {
            seen.add(s.next(LOGITS));
        }
        assertEquals(Set.of(1, 2), seen);
    }

    /** The batched path (softmax in place, one scan per row) draws each token at its softmax probability. */
    @Test
    void batchedSamplingFollowsTheSoftmax() {
        int rows = 4000;
        org.nd4j.linalg.api.ndarray.INDArray logits = org.nd4j.linalg.factory.Nd4j.create(LOGITS).reshape(1, 5)
                .repeat(0, rows).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
        int[] picks = new Sampler(2.0, 0, 1, 3).next(logits.dup());
        double[] p = new double[5];
        double z = 0;
        for (int i = 0; i < 5; i++) {
            p[i] = Math.exp(LOGITS[i] / 2.0);
            z += p[i];
        }
        int[] counts = new int[5];
        for (int k : picks) {
            counts[k]++;
        }
        for (int i = 0; i < 5; i++) { // 4000 draws: a standard error of at most 0.008
            assertEquals(p[i] / z, counts[i] / (double) rows, 0.03, "token " + i);
        }
        int[] greedy = new Sampler(0, 0, 1, 3).next(logits.dup());
        assertEquals(1, greedy[0]);
        assertEquals(1, greedy[rows - 1]);
    }

    @Test
    void badSettingsAreRefused() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Sampler(-1, 0, 1, 0)).getMessage()
                .contains("temperature"));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, -2, 1, 0));
    }

    @Test
    void learningRateWarmsUpThenDecaysToTheMinimum() {
        LearningRate lr = new LearningRate(1.0, 0.1, 10, 110);
        assertEquals(0.1, lr.at(0), 1e-12);
        assertEquals(1.0, lr.at(9), 1e-12);
        assertEquals(0.55, lr.at(59) , 0.01);
        assertEquals(0.1, lr.at(109), 1e-12);
    }
}
