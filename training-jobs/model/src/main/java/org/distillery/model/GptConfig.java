package org.distillery.model;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The shape of a decoder-only transformer: GPT-2, or the Llama family when {@code llama} is set. Field names
 * follow Hugging Face's configs (n_layer, n_head, n_embd, n_positions as {@code blockSize}, vocab_size) so
 * that a checkpoint maps one-to-one onto {@code GPT2LMHeadModel} or {@code LlamaForCausalLM}. {@code dropout}
 * stands for GPT-2's embd/attn/resid dropouts, which are equal; in a Llama model it is the attention dropout,
 * the only one that family has.
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout, Llama llama) {
    /** GPT-2's LayerNorm epsilon ({@code layer_norm_epsilon}). */
    public static final float LN_EPS = 1e-5f;

    /** The architectures, by the name specs and checkpoints use. */
    public static final String GPT2 = "gpt2";
    public static final String LLAMA = "llama";

    /** GPT-2 of this shape. */
    public GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, double dropout) {
        this(nLayer, nHead, nEmbd, blockSize, vocabSize, dropout, null);
    }

    public GptConfig {
        if (llama != null && llama.nKvHead() > 0 && nHead % llama.nKvHead() != 0) {
            throw new IllegalArgumentException("n_head " + nHead + " is no multiple of n_kv_head " + llama.nKvHead());
        }
    }

    /**
     * What the Llama family adds to the shape: grouped-query attention ({@code nKvHead} key/value heads shared
     * by {@code nHead / nKvHead} query heads each), the SiLU-gated MLP's width, RoPE's base, RMSNorm's epsilon,
     * an optional separate LM head, and biases on the attention projections (Llama's {@code attention_bias}:
     * q, k, v and o; a Qwen2 model, which has q, k and v biases only, imports with a zero o bias).
     */
    public record Llama(int nKvHead, int intermediateSize, double ropeTheta, double rmsNormEps,
                        boolean tieWordEmbeddings, boolean attentionBias) {
    }

    /** The model a train or distill spec's shape describes, over a vocabulary of {@code vocabSize} tokens. */
    public static GptConfig of(org.distillery.core.spec.TrainSpec.Model m, int vocabSize) {
        Llama llama = m.llama() ? new Llama(m.nKvHead(), m.intermediateSize(), m.ropeTheta(), m.rmsNormEps(),
                m.tieWordEmbeddings(), m.attentionBias()) : null;
        return new GptConfig(m.nLayer(), m.nHead(), m.nEmbd(), m.blockSize(), vocabSize, m.dropout(), llama);
    }

    /** This shape as a spec's model section (a teacher's, from which a student's is resolved). */
    public org.distillery.core.spec.TrainSpec.Model shape() {
        if (llama == null) {
            return new org.distillery.core.spec.TrainSpec.Model(nLayer, nHead, nEmbd, blockSize, dropout);
        }
        return new org.distillery.core.spec.TrainSpec.Model(LLAMA, nLayer, nHead, nEmbd, blockSize, dropout,
                llama.nKvHead(), llama.intermediateSize(), llama.ropeTheta(), llama.rmsNormEps(),
                llama.tieWordEmbeddings(), llama.attentionBias());
    }

    /**
     * The first way this shape breaks a spec's rules (sizes in their ranges, n_embd divisible by n_head, n_kv_head
     * dividing n_head, an even RoPE head), its path under {@code model.}; null when none. A shape read from a file
     * (a checkpoint, a Hugging Face config) must pass before anything is sized by it; within those ranges
     * {@link #parameterCount()} stays below 2^50, so it cannot overflow.
     */
    public org.distillery.core.spec.Validation.Problem problem() {
        org.distillery.core.spec.Validation v = new org.distillery.core.spec.Validation();
        org.distillery.core.spec.TrainSpec.validateModel(v, shape(), "model.");
        v.inRange(vocabSize, 1, Integer.MAX_VALUE, "model.vocab_size");
        return v.problems().isEmpty() ? null : v.problems().get(0);
    }

    /** {@value #GPT2} or {@value #LLAMA}; checkpoints record it beside the shape. */
    @JsonProperty("arch")
    public String arch() {
        return llama == null ? GPT2 : LLAMA;
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Key/value heads: n_head for GPT-2 and plain multi-head attention. */
    public int kvHeads() {
        return llama == null ? nHead : llama.nKvHead();
    }

    /**
     * Parameters outside the vocabulary- and position-sized matrices (token and position embeddings, an untied LM
     * head), as scaling-law papers count a model's size: what a narrower or shallower student actually saves.
     */
    public long nonEmbeddingParameterCount() {
        long vocabRows = (long) vocabSize * nEmbd * (llama != null && !llama.tieWordEmbeddings() ? 2 : 1);
        return parameterCount() - vocabRows - (llama == null ? (long) blockSize * nEmbd : 0);
    }

    /** Parameters in total; a tied LM head is the token embedding and not counted twice. */
    public long parameterCount() {
        long c = nEmbd;
        if (llama != null) {
            long kv = (long) kvHeads() * headSize();
            long qkv = c + 2 * kv;
            long inter = llama.intermediateSize();
            long bias = llama.attentionBias() ? qkv + c : 0;
            long block = 2 * c + c * qkv + c * c + bias + 3 * c * inter;
            return (long) vocabSize * c * (llama.tieWordEmbeddings() ? 1 : 2) + nLayer * block + c;
        }
        long block = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c);
        return (long) vocabSize * c + (long) blockSize * c + nLayer * block + 2 * c;
    }
}
