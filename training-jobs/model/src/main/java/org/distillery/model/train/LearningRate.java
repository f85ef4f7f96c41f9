package org.distillery.model.train;

/** Linear warmup from 0 to {@code peak}, then cosine decay to {@code min} at the last step. */
public record LearningRate(double peak, double min, int warmupSteps, int totalSteps) {
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
