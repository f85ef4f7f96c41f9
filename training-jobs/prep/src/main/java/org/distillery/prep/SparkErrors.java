package org.distillery.prep;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkException;
import org.distillery.core.DistilleryException;

/**
 * The user's error from inside a Spark task, with its file and line, rather than Spark's wrapper. In
 * local mode the task's exception is the cause; from a cluster's executor only its text comes back,
 * as "class: message" inside Spark's own message.
 */
public final class SparkErrors {
    private static final Pattern OURS = Pattern.compile("org\\.distillery\\.[\\w.$]*Exception: (.*)");

    private SparkErrors() {
    }

    public static RuntimeException unwrap(SparkException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SourceReader.BadRecordException bad) {
                String located = SourceReader.locateBadRecord(bad.file, bad.field);
                return new DistilleryException(located != null ? located : bad.getMessage(), e);
            }
            if (t instanceof DistilleryException d) {
                return d;
            }
        }
        String msg = String.valueOf(e.getMessage());
        Matcher m = OURS.matcher(msg);
        if (m.find()) {
            return new DistilleryException(m.group(1), e);
        }
        return new IllegalStateException("Spark job failed: " + msg.lines().findFirst().orElse(msg), e);
    }
}
