package org.distillery.workbench.core.runs;

/**
 * One logged value of a metric.
 *
 * @param step      the job's step
 * @param value     the value
 * @param timestamp when it was logged, epoch milliseconds
 */
public record MetricPoint(long step, double value, long timestamp) {
}
