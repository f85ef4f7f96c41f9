package org.distillery.model;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Autoregressive generation: feeds the last block_size tokens, samples the next one from the last
 * position's logits, and stops after {@code maxNewTokens} or at the end-of-text token.
 */
public final class Generator {
    private final Gpt gpt;

    public Generator(Gpt gpt) {
        this.gpt = gpt;
    }

    /** The prompt followed by up to {@code maxNewTokens} generated tokens; {@code eot} < 0 never stops early. */
    public int[] generate(int[] prompt, int maxNewTokens, Sampler sampler, int eot) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: give at least one token");
        }
        int block = gpt.config().blockSize();
        int[] out = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int n = prompt.length;
        for (int i = 0; i < maxNewTokens; i++) {
            int from = Math.max(0, n - block);
            int[] window = Arrays.copyOfRange(out, from, n);
            INDArray logits = gpt.lastLogits(window);
            int next = sampler.next(logits.toFloatVector());
            out[n++] = next;
            if (next == eot) {
                break;
            }
        }
        return Arrays.copyOf(out, n);
    }
}
