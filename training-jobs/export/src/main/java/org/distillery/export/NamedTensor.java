package org.distillery.export;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A tensor as a serving format names and shapes it, over Distillery's float32 values (often a view
 * of the model's flat parameter buffer, so nothing is copied until it is written).
 */
public record NamedTensor(String name, long[] shape, INDArray values) {
    public NamedTensor {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length()) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " holds " + n
                    + " values, the array " + values.length());
        }
    }

    public long elements() {
        return values.length();
    }
}
