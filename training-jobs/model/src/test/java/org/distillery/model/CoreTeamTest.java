package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

class CoreTeamTest {
    private static final CoreTeam team = new CoreTeam(3); // its daemon threads live as long as the JVM

    @Test
    void runsEveryPartOnceOnDistinctThreadsAndReturnsWhenAllAreDone() throws Exception {
        for (int round = 0; round < 2000; round++) {
            AtomicLongArray hits = new AtomicLongArray(3);
            Set<Thread> threads = ConcurrentHashMap.newKeySet();
            team.run(3, i -> {
                threads.add(Thread.currentThread());
                hits.incrementAndGet(i);
            });
            assertEquals("[1, 1, 1]", hits.toString(), "round " + round);
            assertEquals(3, threads.size());
            if (round % 500 == 0) {
                Thread.sleep(2); // long enough for the workers to park: they must wake again
            }
        }
    }

    @Test
    void aPartsFailureReachesTheCallerAndTheTeamGoesOn() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> team.run(3, i -> {
            if (i == 2) {
                throw new IllegalStateException("part 2 failed");
            }
        }));
        assertEquals("part 2 failed", e.getMessage());
        long[] seen = new long[3];
        team.run(3, i -> seen[i] = i + 1);
        assertArrayEquals(new long[] {1, 2, 3}, seen);
    }

    @Test
    void callersOnOtherThreadsAtTheSameTimeEachGetAllTheirParts() throws Exception {
        AtomicLong total = new AtomicLong();
        List<Thread> callers = new ArrayList<>();
        for (int c = 0; c < 4; c++) {
            Thread t = new Thread(() -> {
                for (int round = 0; round < 500; round++) {
                    team.run(3, i -> total.addAndGet(i + 1));
                }
            });
            callers.add(t);
            t.start();
        }
        for (Thread t : callers) {
            t.join(60_000);
        }
        assertEquals(4L * 500 * (1 + 2 + 3), total.get());
    }

    @Test
    void morePartsThanThreadsIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> team.run(4, i -> { }));
        assertTrue(e.getMessage().contains("4 parts for a team of 3"), e.getMessage());
    }
}
