package org.distillery.model;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Autoregressive generation: samples the next token from the last position's logits, and stops after
 * {@code maxNewTokens} or at the end-of-text token. A {@link Gpt.Decoder} keeps the keys and values
 * seen, so each token costs one position's pass; past block_size the model sees the last block_size
 * tokens, and the cache is rebuilt for each token, since every position shifts.
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
        if (maxNewTokens <= 0) {
            return Arrays.copyOf(out, n);
        }
        Gpt.Decoder decoder = gpt.decoder(1, Math.min(block, n + maxNewTokens - 1));
        INDArray logits = Nd4j.createUninitializedDetached(DataType.FLOAT, 1, gpt.config().vocabSize());
        int from = Math.max(0, n - block);
        decoder.prefill(Arrays.copyOfRange(out, from, n), n - from, logits);
        for (int i = 0; i < maxNewTokens; i++) {
            int next = sampler.next(logits.toFloatVector());
            out[n++] = next;
            if (next == eot || i == maxNewTokens - 1) {
                break;
            }
            if (decoder.length() < decoder.capacity()) {
                decoder.next(new int[] {next}, logits);
            } else { // the window slides: every position moves, so the cache is rebuilt
                decoder.prefill(Arrays.copyOfRange(out, n - block, n), block, logits);
            }
        }
        return Arrays.copyOf(out, n);
    }
}
