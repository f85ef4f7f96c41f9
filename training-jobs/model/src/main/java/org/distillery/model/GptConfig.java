package org.distillery.model;

import java.util.ArrayList;
import java.util.List;

/**
 * The shape of a GPT-2 model. Field names follow Hugging Face's {@code GPT2Config} (n_layer, n_head,
 * n_embd, n_positions as {@code blockSize}, vocab_size) so that a checkpoint maps one-to-one onto
 * {@code GPT2LMHeadModel}. {@code dropout} stands for GPT-2's embd/attn/resid dropouts, which are equal.
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout) {
    /** GPT-2's LayerNorm epsilon ({@code layer_norm_epsilon}). */
    public static final float LN_EPS = 1e-5f;

    /** Problems with this shape, each naming the {@code model.} field of a spec; empty when usable. */
    public List<String[]> problems() {
        List<String[]> p = new ArrayList<>();
        if (nLayer < 1) {
            p.add(new String[] {"model.n_layer", "must be at least 1, found " + nLayer});
        }
        if (nHead < 1) {
            p.add(new String[] {"model.n_head", "must be at least 1, found " + nHead});
        }
        if (nEmbd < 1) {
            p.add(new String[] {"model.n_embd", "must be at least 1, found " + nEmbd});
        } else if (nHead >= 1 && nEmbd % nHead != 0) {
            p.add(new String[] {"model.n_embd", "must be divisible by model.n_head (" + nHead + "), found " + nEmbd});
        }
        if (blockSize < 1) {
            p.add(new String[] {"model.block_size", "must be at least 1, found " + blockSize});
        }
        if (vocabSize < 1) {
            p.add(new String[] {"model.vocab_size", "must be at least 1, found " + vocabSize});
        }
        if (!(dropout >= 0 && dropout < 1)) {
            p.add(new String[] {"model.dropout", "must be in [0, 1), found " + dropout});
        }
        return p;
    }

    public GptConfig requireValid() {
        List<String[]> p = problems();
        if (!p.isEmpty()) {
            throw new IllegalArgumentException(p.get(0)[0] + " " + p.get(0)[1]);
        }
        return this;
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Parameters in total; the LM head is tied to the token embedding and not counted twice. */
    public long parameterCount() {
        long c = nEmbd;
        long block = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c);
        return (long) vocabSize * c + (long) blockSize * c + nLayer * block + 2 * c;
    }
}
