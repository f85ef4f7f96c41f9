package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The settings SparkSessions decides without a Spark running. */
class SparkSessionsTest {
    @Test
    void masterPrecedenceIsCommandLineThenSubmitterThenSpecThenLocal() {
        assertEquals("--master", SparkSessions.master("spark://a:7077", "yarn", "local[2]").source());
        assertEquals("yarn", SparkSessions.master(null, "yarn", "local[2]").url());
        assertEquals("local[2]", SparkSessions.master(" ", null, "local[2]").url());
        assertEquals("local[*]", SparkSessions.master(null, null, null).url());
    }

    /** Kryo cannot build records by itself: our registrator joins any the submitter named, once. */
    @Test
    void ourKryoRegistratorJoinsTheSubmittersOnce() {
        String ours = SparkKryo.class.getName();
        assertEquals(ours, SparkSessions.registrators(null));
        assertEquals(ours, SparkSessions.registrators(""));
        assertEquals("com.acme.Reg," + ours, SparkSessions.registrators("com.acme.Reg"));
        assertEquals("com.acme.Reg, " + ours, SparkSessions.registrators("com.acme.Reg, " + ours));
    }
}
