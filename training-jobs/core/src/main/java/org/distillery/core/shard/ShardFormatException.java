package org.distillery.core.shard;

import java.nio.file.Path;
import org.distillery.core.DistilleryException;

/** A shard or manifest that is not what its header or manifest says; the message names the file. */
public final class ShardFormatException extends DistilleryException {
    private final String problem;

    public ShardFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.problem = problem;
    }

    /** What is wrong, without the file. */
    public String problem() {
        return problem;
    }
}
