package org.distillery.model;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.distillery.core.DistilleryException;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The {@link Kernels} engines by name, as DJL registers its engines: each is built once, on first use, and
 * shared (building one sets ND4J's BLAS threads, which no later caller should undo). The engine is the
 * fastest one this JVM and ND4J backend can run, or the one {@code -Ddistillery.kernels=java|vector|nd4j}
 * names, beside {@code -Ddistillery.blas} (which BLAS the CPU engines call).
 */
final class KernelEngines {
    /** The system property that forces an engine. */
    static final String PROPERTY = "distillery.kernels";

    private static final Map<String, Supplier<Kernels>> REGISTERED = new LinkedHashMap<>();
    private static final Map<String, Kernels> BUILT = new ConcurrentHashMap<>();

    static {
        // Lambdas, not constructor references: VectorKernels must not even be linked without the Vector API.
        REGISTERED.put("vector", () -> new VectorKernels());
        REGISTERED.put("java", () -> new JavaKernels());
        REGISTERED.put("nd4j", () -> new Nd4jKernels());
    }

    private KernelEngines() {
    }

    /** The names engines are registered under, in order of preference on the CPU. */
    static java.util.Set<String> names() {
        return REGISTERED.keySet();
    }

    /** The engine registered as {@code name}, built on first use. */
    static Kernels get(String name) {
        String key = name.strip().toLowerCase(Locale.ROOT);
        Supplier<Kernels> make = REGISTERED.get(key);
        if (make == null) {
            throw new DistilleryException(PROPERTY + " is '" + name + "'; the engines are " + String.join(", ",
                    REGISTERED.keySet()));
        }
        if (key.equals("vector") && !VectorKernels.available()) {
            throw new DistilleryException(PROPERTY + "=vector needs the Vector API: run java with"
                    + " --add-modules=jdk.incubator.vector (bin/distillery does)");
        }
        if (!key.equals("nd4j") && !onCpu()) {
            throw new DistilleryException(PROPERTY + "=" + key + " runs on the CPU, but ND4J's backend is "
                    + backendName() + ": use nd4j, or build without -Pcuda");
        }
        return BUILT.computeIfAbsent(key, k -> make.get());
    }

    /** The engine for this process: the one {@value #PROPERTY} names, else the fastest that runs here. */
    static Kernels preferred() {
        String forced = System.getProperty(PROPERTY, "").strip();
        if (!forced.isEmpty()) {
            return get(forced);
        }
        if (!onCpu()) {
            return get("nd4j");
        }
        if (VectorKernels.available()) {
            return get("vector");
        }
        return BUILT.computeIfAbsent("java", k -> JavaKernels.withoutVectors());
    }

    static boolean onCpu() {
        return backendName().startsWith("CpuBackend");
    }

    private static String backendName() {
        return Nd4j.getBackend().getClass().getSimpleName();
    }
}
