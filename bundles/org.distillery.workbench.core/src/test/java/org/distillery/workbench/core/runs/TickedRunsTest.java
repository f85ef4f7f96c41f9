package org.distillery.workbench.core.runs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TickedRunsTest {
    @Test
    void ticksInTwoStoresComeBackInTheirOrderWithTheirLabels() {
        Map<RunRef, String> ticks = new LinkedHashMap<>();
        ticks.put(new RunRef(true, "http://127.0.0.1:5000", "b2c"), "kd / kd-student");
        ticks.put(new RunRef(false, "/work/runs", "a1"), "demo / train-demo");
        ticks.put(new RunRef(false, "/work/runs", "0f"), "demo / distill-demo");
        Map<RunRef, String> back = TickedRuns.read(TickedRuns.write(ticks));
        assertEquals(ticks, back);
        assertEquals(List.copyOf(ticks.keySet()), List.copyOf(back.keySet()), "the order they were ticked in");
    }

    @Test
    void oneTickIsKeptThoughItIsNoComparison() {
        Map<RunRef, String> one = Map.of(new RunRef(false, "/work/runs", "a1"), "demo / train-demo");
        assertEquals(one, TickedRuns.read(TickedRuns.write(one)));
    }

    @Test
    void damagedOrMissingStateMeansNoTicks() {
        assertTrue(TickedRuns.read(null).isEmpty());
        assertTrue(TickedRuns.read("").isEmpty());
        assertTrue(TickedRuns.read("[{\"store\":\"local\",").isEmpty());
        assertEquals(Map.of(new RunRef(false, "/r", "x"), "x"),
                TickedRuns.read("[{\"store\":\"local\",\"location\":\"/r\"},{\"store\":\"local\",\"location\":\"/r\","
                        + "\"run_id\":\"x\"}]"), "an entry without a run id is left out; a missing label is the id");
    }
}
