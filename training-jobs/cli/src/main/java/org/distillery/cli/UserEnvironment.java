package org.distillery.cli;

/**
 * The environment a Python runtime Distillery starts (a benchmark's peer, the scorecard's runtimes, {@code exports
 * check}'s consumers) gets: its users', not the one bin/distillery makes for ND4J. bin/distillery sets
 * {@code OMP_WAIT_POLICY=PASSIVE} when the user did not (spinning OpenMP threads starve the Java kernels), and keeps
 * the user's own value, possibly empty, in {@value #USER_OMP_WAIT_POLICY}; PyTorch under a passive policy sleeps
 * between ops (55 to 90 ms a training step here), so a peer or a serving figure measured that way is not what its
 * users see.
 */
final class UserEnvironment {
    static final String USER_OMP_WAIT_POLICY = "DISTILLERY_USER_OMP_WAIT_POLICY";

    private UserEnvironment() {
    }

    /** {@code pb} with the user's OpenMP wait policy (none where they set none, or where the launcher is unknown). */
    static ProcessBuilder of(ProcessBuilder pb) {
        String user = System.getenv(USER_OMP_WAIT_POLICY);
        if (user == null || user.isEmpty()) {
            pb.environment().remove("OMP_WAIT_POLICY");
        } else {
            pb.environment().put("OMP_WAIT_POLICY", user);
        }
        pb.environment().remove(USER_OMP_WAIT_POLICY);
        return pb;
    }
}
