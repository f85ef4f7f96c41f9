package org.distillery.model.train;

import org.distillery.model.Gpt;

/**
 * A model's mean next-token loss over a whole held-out split, not a sample of it: every consecutive
 * window of the model's block size, each position a target once. The figure an experiment compares
 * models by; the training loop's {@code val/loss} uses a fixed sample to stay cheap.
 */
public record HeldOutLoss(double loss, long tokens) {

    public double perplexity() {
        return Math.exp(loss);
    }

    public static HeldOutLoss of(Gpt gpt, TokenWindows split, int batch) {
        int time = gpt.config().blockSize();
        long windows = split.consecutiveWindows(time);
        if (windows == 0) {
            throw new IllegalStateException("no shard of the split holds " + (time + 1) + " tokens");
        }
        double sum = 0;
        for (long first = 0; first < windows; first += batch) {
            int n = (int) Math.min(batch, windows - first);
            sum += gpt.loss(split.consecutiveBatch(first, n, time)) * n;
        }
        return new HeldOutLoss(sum / windows, windows * time);
    }
}
