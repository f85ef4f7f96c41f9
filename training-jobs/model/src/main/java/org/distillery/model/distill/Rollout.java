package org.distillery.model.distill;

import org.distillery.model.Gpt;
import org.distillery.model.Sampler;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The student's own sequences for on-policy distillation (GKD): each data window keeps its first
 * {@code prompt} tokens and the student samples the rest, all rows of the batch advancing together
 * through a {@link Gpt.Decoder}: the prompts in one pass, then one position per sampled token, the
 * earlier positions' keys and values kept. The result has the data batch's
 * shape, so the teacher scores it like any other.
 */
public final class Rollout {
    private Rollout() {
    }

    public static Gpt.Batch sample(Gpt student, Gpt.Batch data, int prompt, Sampler sampler) {
        int rows = data.batch();
        int time = data.time();
        if (prompt < 1 || prompt > time) {
            throw new IllegalArgumentException("a prompt of " + prompt + " tokens does not fit windows of " + time);
        }
        int width = time + 1; // inputs and the next token after each
        int[] seq = new int[rows * width];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(data.inputs(), r * time, seq, r * width, prompt);
        }
        INDArray last = Nd4j.createUninitializedDetached(DataType.FLOAT, rows, student.config().vocabSize());
        Gpt.Decoder decoder = student.decoder(rows, time); // the last sampled token is a target, never fed
        int[] prompts = new int[rows * prompt];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(seq, r * width, prompts, r * prompt, prompt);
        }
        decoder.prefill(prompts, prompt, last);
        for (int len = prompt; len < width; len++) {
            int[] next = sampler.next(last);
            for (int r = 0; r < rows; r++) {
                seq[r * width + len] = next[r];
            }
            if (len < time) {
                decoder.next(next, last);
            }
        }
        int[] inputs = new int[rows * time];
        int[] targets = new int[rows * time];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(seq, r * width, inputs, r * time, time);
            System.arraycopy(seq, r * width + 1, targets, r * time, time);
        }
        return new Gpt.Batch(inputs, targets, rows, time);
    }
}
