package org.distillery.core.text;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link MinHasher}'s permutations on SIMD lanes: one vector of seeds at a time, its running minimums kept
 * in a register across all of a document's shingles (about 8x the scalar loop on AVX2 and AVX-512).
 * The Vector API is an incubator module in Java 17: only touched when the JVM runs with
 * {@code --add-modules=jdk.incubator.vector} (bin/distillery and the tests do; Spark executors may not):
 * {@link MinHasher#LANES} says so without loading this class, whose verification needs the module.
 */
final class MinHashLanes {
    private MinHashLanes() {
    }

    /**
     * Fills the signature's permutations up to the last whole vector of them, as
     * {@link MinHasher#minimums} would; returns where the scalar loop takes over.
     */
    static int minimums(int[] seeds, int[] xs, int[] sig) {
        VectorSpecies<Integer> species = IntVector.SPECIES_PREFERRED;
        int whole = species.loopBound(seeds.length);
        for (int v = 0; v < whole; v += species.length()) {
            IntVector seed = IntVector.fromArray(species, seeds, v);
            IntVector min = IntVector.broadcast(species, Integer.MAX_VALUE);
            for (int x : xs) {
                IntVector h = seed.lanewise(VectorOperators.XOR, x);
                h = h.lanewise(VectorOperators.XOR, h.lanewise(VectorOperators.LSHR, 16)).mul(0x85ebca6b);
                h = h.lanewise(VectorOperators.XOR, h.lanewise(VectorOperators.LSHR, 13)).mul(0xc2b2ae35);
                h = h.lanewise(VectorOperators.XOR, h.lanewise(VectorOperators.LSHR, 16));
                min = min.min(h);
            }
            min.intoArray(sig, v);
        }
        return whole;
    }
}
