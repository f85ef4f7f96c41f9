package org.distillery.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The cosines and sines of rotary position embeddings, {@code [time, d/2]}: position p turns dims i and i + d/2 of
 * a head by {@code p * theta^(-2i/d)}, computed in double as {@code transformers} computes them in float32 from
 * {@code inv_freq}, then stored as float.
 */
public record RotaryTables(INDArray cos, INDArray sin) {
    public static RotaryTables of(int time, int headSize, double theta) {
        if (headSize % 2 != 0) {
            throw new IllegalArgumentException("rotary embeddings need an even head size, found " + headSize);
        }
        int half = headSize / 2;
        float[] c = new float[time * half];
        float[] s = new float[time * half];
        for (int i = 0; i < half; i++) {
            float inv = (float) (1.0 / Math.pow(theta, (2.0 * i) / headSize));
            for (int p = 0; p < time; p++) {
                float angle = p * inv; // float32, as transformers multiplies positions by inv_freq
                c[p * half + i] = (float) Math.cos(angle);
                s[p * half + i] = (float) Math.sin(angle);
            }
        }
        return new RotaryTables(Nd4j.create(c, new long[] {time, half}, DataType.FLOAT),
                Nd4j.create(s, new long[] {time, half}, DataType.FLOAT));
    }
}
