package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.distillery.core.DistilleryException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Engines by name: built once and shared, the fastest by default, one forced by -Ddistillery.kernels. */
@Tag("numerical")
class KernelEnginesTest {
    @Test
    void eachEngineIsBuiltOnceAndTheFastestIsTheDefault() {
        assertSame(KernelEngines.get("vector"), KernelEngines.get("Vector"));
        assertSame(KernelEngines.get("nd4j"), KernelEngines.get("nd4j"));
        assertSame(KernelEngines.get("vector"), Kernels.forBackend(), "the tests run with the Vector API on the CPU");
        assertSame(Kernels.forBackend(), Kernels.forBackend(), "every call site shares the engine");
    }

    @Test
    void theSystemPropertyForcesAnEngine() {
        String before = System.getProperty(KernelEngines.PROPERTY);
        try {
            System.setProperty(KernelEngines.PROPERTY, "java");
            assertInstanceOf(JavaKernels.class, Kernels.forBackend());
            assertTrue(!(Kernels.forBackend() instanceof VectorKernels), "the scalar engine, not its SIMD subclass");
            System.setProperty(KernelEngines.PROPERTY, "nd4j");
            assertInstanceOf(Nd4jKernels.class, Kernels.forBackend());
            System.setProperty(KernelEngines.PROPERTY, "cublas");
            DistilleryException e = assertThrows(DistilleryException.class, Kernels::forBackend);
            assertTrue(e.getMessage().contains("distillery.kernels is 'cublas'; the engines are vector, java, nd4j"),
                    e.getMessage());
        } finally {
            if (before == null) {
                System.clearProperty(KernelEngines.PROPERTY);
            } else {
                System.setProperty(KernelEngines.PROPERTY, before);
            }
        }
    }
}
