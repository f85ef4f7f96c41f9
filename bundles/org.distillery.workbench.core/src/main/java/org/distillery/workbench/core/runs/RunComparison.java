package org.distillery.workbench.core.runs;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Two or more runs side by side, as MLflow's compare view shows them: their params (one column per run, the rows
 * that differ marked), each metric's last and best value with its step, and the curves against step, training
 * tokens or wall time. The runs may come from different stores. Immutable: built from what the stores returned.
 *
 * @param members the runs in the order chosen
 */
public record RunComparison(List<Member> members) {
    public RunComparison {
        if (members.size() < 2) {
            throw new IllegalArgumentException("a comparison needs two or more runs, got " + members.size());
        }
        members = List.copyOf(members);
    }

    /**
     * One run with what its store holds of it.
     *
     * @param store   the store's location (a folder or an MLflow URI)
     * @param run     the run as the store lists it
     * @param params  its params
     * @param history its metrics' points in step order
     */
    public record Member(String store, RunInfo run, Map<String, String> params, Map<String, List<MetricPoint>> history) {
        public Member {
            params = Map.copyOf(params);
            history = Map.copyOf(history);
        }

        /** Reads a run's params and metrics from its store. */
        public static Member read(RunStore store, RunInfo run) {
            return new Member(store.location(), run, store.params(run), store.history(run));
        }

        /**
         * Training tokens a step: batch size x gradient accumulation x ranks x block size, from the run's params (a
         * distillation run's block size is its teacher checkpoint's); null when the params do not say.
         */
        public Long tokensPerStep() {
            Long batch = number(params.get("training.batch_size"));
            Long block = number(params.getOrDefault("model.block_size", params.get("teacher_checkpoint.model.block_size")));
            if (batch == null || block == null) {
                return null;
            }
            long accum = Objects.requireNonNullElse(number(params.get("training.grad_accum")), 1L);
            long ranks = Objects.requireNonNullElse(number(params.get("distributed.ranks")), 1L);
            return batch * accum * ranks * block;
        }

        private static Long number(String s) {
            try {
                return s == null ? null : Long.valueOf(s.strip());
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }

    /** What the curves are drawn against. */
    public enum Axis {
        STEP("step"),
        TOKENS("training tokens"),
        WALL_TIME("wall time (s)");

        private final String title;

        Axis(String title) {
            this.title = title;
        }

        public String title() {
            return title;
        }

        /**
         * The x of each point of one of {@code m}'s curves; null when the run cannot say (training tokens without
         * the params that give them). Wall time counts from the run's start, or its first point when the start is
         * unknown or later.
         */
        public double[] x(Member m, List<MetricPoint> points) {
            double[] x = new double[points.size()];
            switch (this) {
                case STEP -> {
                    for (int i = 0; i < x.length; i++) {
                        x[i] = points.get(i).step();
                    }
                }
                case TOKENS -> {
                    Long perStep = m.tokensPerStep();
                    if (perStep == null) {
                        return null;
                    }
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (double) points.get(i).step() * perStep;
                    }
                }
                case WALL_TIME -> {
                    long first = points.stream().mapToLong(MetricPoint::timestamp).min().orElse(0);
                    long start = m.run().startTime() > 0 && m.run().startTime() <= first ? m.run().startTime() : first;
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (points.get(i).timestamp() - start) / 1000.0;
                    }
                }
            }
            return x;
        }
    }

    /**
     * One param across the runs.
     *
     * @param key    the param
     * @param values one per run, null where a run has no such param
     */
    public record ParamRow(String key, List<String> values) {
        /** Whether the runs do not all hold the same value (a missing param differs from any value). */
        public boolean differs() {
            return new HashSet<>(values).size() > 1;
        }
    }

    /**
     * A metric's summary in one run.
     *
     * @param last     the value at the last step logged
     * @param lastStep that step
     * @param best     the lowest value (the highest for a metric where higher is better), NaNs ignored
     * @param bestStep the first step it was reached at
     */
    public record Summary(double last, long lastStep, double best, long bestStep) {
    }

    /**
     * One metric across the runs.
     *
     * @param key           the metric
     * @param lowerIsBetter which way {@code best} looks
     * @param values        one per run, null where a run never logged it
     */
    public record MetricRow(String key, boolean lowerIsBetter, List<Summary> values) {
    }

    /** Every param of any run, sorted; only the rows that differ with {@code differencesOnly}. */
    public List<ParamRow> params(boolean differencesOnly) {
        Set<String> keys = new TreeSet<>();
        members.forEach(m -> keys.addAll(m.params().keySet()));
        List<ParamRow> rows = new ArrayList<>();
        for (String k : keys) {
            List<String> values = new ArrayList<>();
            members.forEach(m -> values.add(m.params().get(k)));
            ParamRow row = new ParamRow(k, java.util.Collections.unmodifiableList(values));
            if (!differencesOnly || row.differs()) {
                rows.add(row);
            }
        }
        return rows;
    }

    /** Every metric any run logged, sorted, with each run's last and best value. */
    public List<MetricRow> metrics() {
        List<MetricRow> rows = new ArrayList<>();
        for (String k : metricNames()) {
            boolean lower = lowerIsBetter(k);
            List<Summary> values = new ArrayList<>();
            for (Member m : members) {
                values.add(summary(m.history().get(k), lower));
            }
            rows.add(new MetricRow(k, lower, java.util.Collections.unmodifiableList(values)));
        }
        return rows;
    }

    /** The metrics any run logged, sorted. */
    public Set<String> metricNames() {
        Set<String> names = new TreeSet<>();
        members.forEach(m -> names.addAll(m.history().keySet()));
        return names;
    }

    /**
     * Labels for the runs, {@code experiment / name}, with the start of the run id added where two would read the
     * same.
     */
    public List<String> labels() {
        List<String> plain = members.stream().map(m -> m.run().experiment() + " / " + m.run().name()).toList();
        Set<String> seen = new HashSet<>();
        Set<String> twice = new LinkedHashSet<>();
        plain.forEach(l -> {
            if (!seen.add(l)) {
                twice.add(l);
            }
        });
        List<String> out = new ArrayList<>();
        for (int i = 0; i < plain.size(); i++) {
            String id = members.get(i).run().id();
            out.add(twice.contains(plain.get(i)) ? plain.get(i) + " (" + id.substring(0, Math.min(8, id.length())) + ")"
                    : plain.get(i));
        }
        return out;
    }

    /** Whether a metric is a validation one (drawn dashed against the training curves). */
    public static boolean validation(String key) {
        return key.startsWith("val/") || key.startsWith("eval/") || key.startsWith("validation/");
    }

    /** Throughputs, accuracies and shares of a gap are better high; losses, perplexities and the rest low. */
    public static boolean lowerIsBetter(String key) {
        String k = key.toLowerCase(java.util.Locale.ROOT);
        return !(k.endsWith("per_second") || k.endsWith("tokens_per_s") || k.contains("accuracy")
                || k.contains("gap_closed") || k.contains("retained"));
    }

    private static Summary summary(List<MetricPoint> points, boolean lower) {
        if (points == null || points.isEmpty()) {
            return null;
        }
        MetricPoint last = points.get(points.size() - 1);
        MetricPoint best = null;
        for (MetricPoint p : points) {
            if (Double.isNaN(p.value())) {
                continue;
            }
            if (best == null || (lower ? p.value() < best.value() : p.value() > best.value())) {
                best = p;
            }
        }
        return best == null ? new Summary(last.value(), last.step(), Double.NaN, -1)
                : new Summary(last.value(), last.step(), best.value(), best.step());
    }
}
