package org.distillery.model;

/**
 * The shape of a GPT-2 model. Field names follow Hugging Face's {@code GPT2Config} (n_layer, n_head,
 * n_embd, n_positions as {@code blockSize}, vocab_size) so that a checkpoint maps one-to-one onto
 * {@code GPT2LMHeadModel}. {@code dropout} stands for GPT-2's embd/attn/resid dropouts, which are equal.
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout) {
    /** GPT-2's LayerNorm epsilon ({@code layer_norm_epsilon}). */
    public static final float LN_EPS = 1e-5f;

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
