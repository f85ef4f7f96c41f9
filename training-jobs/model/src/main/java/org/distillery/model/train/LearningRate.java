package org.distillery.model.train;

/**
 * Linear warmup from 0 to {@code peak}, then cosine decay to {@code min} at the last step ({@link #at}), or the peak
 * lowered by a factor per plateau of the validation loss ({@link #plateau}).
 */
public record LearningRate(double peak, double min, int warmupSteps, int totalSteps) {
    /** After warmup, {@code peak * decay^reductions}, not below {@code min}. */
    public double plateau(long step, int reductions, double decay) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        return Math.max(min, peak * Math.pow(decay, reductions));
    }

    /** Whether {@link #plateau} can go lower than it is after {@code reductions}. */
    public boolean lowers(int reductions, double decay) {
        return peak * Math.pow(decay, reductions) > min;
    }

    public double at(long step) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        if (totalSteps <= warmupSteps) {
            return peak;
        }
        double progress = Math.min(1.0, (double) (step - warmupSteps) / Math.max(1, totalSteps - 1 - warmupSteps));
        return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
    }
}
