package org.distillery.model.train;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntPredicate;
import org.distillery.core.spec.TrainSpec;

/**
 * The stopping rule on validation loss ({@code eval.patience}, {@code eval.min_delta}): training ends once
 * {@code patience} evaluations in a row have not bettered the best loss by more than {@code min_delta}. Under the
 * {@code plateau} schedule, such a run of evaluations first lowers the learning rate (a reduction), while it can
 * go lower; only at min_lr does it end the run. Its state travels in each checkpoint's metrics, so a resumed run
 * stops where an uninterrupted one would, and a finished one stays finished.
 */
final class EarlyStop {
    static final String BEST_LOSS = "stop/best_val_loss";
    static final String BEST_STEP = "stop/best_step";
    static final String SINCE_BEST = "stop/evals_since_best";
    static final String REDUCTIONS = "stop/lr_reductions";

    private final int patience;
    private final double minDelta;
    private double best = Double.POSITIVE_INFINITY;
    private long bestStep = -1;
    private int sinceBest;
    /** Under the plateau schedule: whether the rate can still be lowered after a given count of reductions. */
    private final IntPredicate lowers;
    private int reductions;

    private EarlyStop(TrainSpec.Eval eval, IntPredicate lowers) {
        this.patience = eval.patience();
        this.minDelta = eval.minDelta();
        this.lowers = lowers;
    }

    /**
     * The rule of {@code eval}, where a checkpoint's {@code metrics} left it (none: a fresh run); {@code lowers} says,
     * under the plateau schedule, whether the rate can go lower after n reductions (null: no schedule of reductions).
     */
    static EarlyStop resumed(TrainSpec.Eval eval, IntPredicate lowers, Map<String, Double> metrics) {
        EarlyStop e = new EarlyStop(eval, lowers == null ? n -> false : lowers);
        if (metrics.containsKey(BEST_LOSS)) {
            e.best = metrics.get(BEST_LOSS);
            e.bestStep = metrics.getOrDefault(BEST_STEP, -1.0).longValue();
            e.sinceBest = metrics.getOrDefault(SINCE_BEST, 0.0).intValue();
            e.reductions = metrics.getOrDefault(REDUCTIONS, 0.0).intValue();
        }
        return e;
    }

    /** How many times the plateau schedule has lowered the rate. */
    int reductions() {
        return reductions;
    }

    /** Records the evaluation at {@code step}; true when it is the best so far by more than min_delta. */
    boolean observe(double valLoss, long step) {
        if (valLoss < best - minDelta) {
            best = valLoss;
            bestStep = step;
            sinceBest = 0;
            return true;
        }
        sinceBest++;
        if (sinceBest >= patience && lowers.test(reductions)) { // a plateau: lower the rate and wait again
            reductions++;
            sinceBest = 0;
        }
        return false;
    }

    /** Whether the run is over: patience evaluations without betterment. */
    boolean stopped() {
        return sinceBest >= patience;
    }

    /**
     * Whether to stop after this evaluation. Rank 0 alone evaluates, so in a distributed run its decision is summed
     * over the ranks: every rank leaves the loop at the same step.
     */
    boolean decide(boolean lead, DataParallel parallel) throws IOException {
        if (parallel.ranks() == 1) {
            return stopped();
        }
        // the lead's decision and count of reductions, the others' zeros: the sum is the lead's on every rank
        FloatBuffer vote = FloatBuffer.allocate(2).put(0, lead && stopped() ? 1f : 0f).put(1, lead ? reductions : 0);
        parallel.sum(vote);
        boolean stop = vote.get(0) > 0;
        if (!lead) {
            reductions = Math.round(vote.get(1)); // the rate every rank steps with
            if (stop) {
                sinceBest = patience; // the lead's state, for this rank's loop condition
            }
        }
        return stop;
    }

    double best() {
        return best;
    }

    long bestStep() {
        return bestStep;
    }

    /** {@code base} with the rule's state, for a checkpoint. */
    Map<String, Double> metrics(Map<String, Double> base) {
        Map<String, Double> m = new TreeMap<>(base);
        if (bestStep >= 0) {
            m.put(BEST_LOSS, best);
            m.put(BEST_STEP, (double) bestStep);
            m.put(SINCE_BEST, (double) sinceBest);
            m.put(REDUCTIONS, (double) reductions);
        }
        return m;
    }
}
