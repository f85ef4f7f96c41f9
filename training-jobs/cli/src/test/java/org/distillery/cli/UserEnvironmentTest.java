package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.distillery.core.process.ChildProcess;
import org.junit.jupiter.api.Test;

/** The Python runtimes run with their users' OpenMP wait policy, not the passive one made for ND4J. */
class UserEnvironmentTest {
    @Test
    void aChildGetsNoWaitPolicyWhereTheUserSetNone() throws Exception {
        assertEquals("PASSIVE", System.getenv("OMP_WAIT_POLICY"), "the tests run with ND4J's policy, as bin/distillery");
        assertEquals(null, System.getenv(UserEnvironment.USER_OMP_WAIT_POLICY), "no launcher recorded a user's own");
        ChildProcess.Result r = ChildProcess.start(UserEnvironment.of(new ProcessBuilder("env")), "env")
                .await(Duration.ofMinutes(1));
        assertEquals(0, r.exitCode());
        assertTrue(r.stdout().lines().noneMatch(l -> l.startsWith("OMP_WAIT_POLICY=")), r.stdout());
        assertTrue(r.stdout().lines().noneMatch(l -> l.startsWith(UserEnvironment.USER_OMP_WAIT_POLICY + "=")));
    }
}
