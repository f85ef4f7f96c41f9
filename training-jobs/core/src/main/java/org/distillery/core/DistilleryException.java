package org.distillery.core;

/**
 * An error caused by the user's input or environment (a spec, a file, a dataset), whose message is
 * meant to be read by the user as it is: it names the file, the field or line, and what was expected.
 * The command line prints it without a stack trace.
 */
public class DistilleryException extends RuntimeException {
    public DistilleryException(String message) {
        super(message);
    }

    public DistilleryException(String message, Throwable cause) {
        super(message, cause);
    }
}
