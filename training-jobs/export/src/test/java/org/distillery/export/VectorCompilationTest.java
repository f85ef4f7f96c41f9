package org.distillery.export;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.distillery.core.process.ChildProcess;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The guard on the export's SIMD speed that no timing gives reliably: once C2 compiles a quantizer or encoder, each
 * of its Vector API operations is SIMD, not the API's Java fallback (docs/findings.md, "The engine's lost third", and
 * the model's {@code VectorCompilationTest}). A child JVM runs {@link SimdExportWorkout} with one C2 compiler thread
 * and prints the inlining tree of every compilation of {@code VectorBlocks}, {@code VectorQ6K} and {@code
 * VectorEncoding}. Two kinds of line fail the test: a vector operation C2 did not inline or intrinsify, and one
 * whose vector's class C2 took from the call's type profile instead of knowing it (a vector a loop carries, or a
 * method's parameter, used as the receiver). In this JVM every method is fully profiled before C2 compiles it, so
 * such a call is bound; under tiered compilation a method that C2 compiles or inlines before its profile is complete
 * keeps it a call, and the vector runs the Java fallback: q6_k ran at 12 instead of 9.8 ns a value in some processes
 * for one such blend. It runs again at the second vector width (the JVM's own flags are passed on), where the block
 * quantizers do not fit and the encoders alone are checked.
 */
@Tag("numerical")
class VectorCompilationTest {
    private static final List<Class<?>> SIMD_CLASSES = List.of(VectorBlocks.class, VectorQ6K.class,
            VectorEncoding.class);
    private static final String ROOT = "org.distillery.export.Vector";
    /** A PrintCompilation line: time, id, flags, method, size. */
    private static final Pattern COMPILE = Pattern.compile("^\\s*\\d+\\s+\\d+\\s+[%sbn! ]*\\s*(\\S+::\\S+)");
    /**
     * An inlining decision about the Vector API or its intrinsics. Our own methods may stay calls: none takes
     * or returns a vector ({@link #noMethodPassesAVectorAcrossACall}).
     */
    private static final Pattern VECTOR_CALLEE = Pattern.compile("@ \\d+\\s+"
            + "(jdk\\.incubator\\.vector\\.\\S+|jdk\\.internal\\.vm\\.vector\\.\\S+) \\(\\d+ bytes\\)\\s+(.*)$");
    /** C2's reasons for not inlining or not intrinsifying. */
    private static final Pattern REFUSED = Pattern.compile("failed|NodeCountInliningCutoff|too large|too big|too deep|"
            + "big method|too much stack|DesiredMethodLimit|not inline|unloaded|no static binding");
    private static final int CALLS = 20000;
    private static final int VECTOR_BYTES = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorByteSize();

    /**
     * C2 stops inlining our methods once a compilation passes its node budget, and a vector that crosses a call that
     * is not inlined is boxed and runs the API's Java fallback: so no method of ours takes or returns one, a lambda's
     * captured vector (a parameter of its synthetic method) included.
     */
    @Test
    void noMethodPassesAVectorAcrossACall() {
        List<String> crossing = new ArrayList<>();
        for (Class<?> c : SIMD_CLASSES) {
            List<Class<?>> classes = new ArrayList<>(List.of(c));
            classes.addAll(List.of(c.getDeclaredClasses()));
            for (Class<?> k : classes) {
                for (Method m : k.getDeclaredMethods()) {
                    List<Class<?>> types = new ArrayList<>(List.of(m.getParameterTypes()));
                    types.add(m.getReturnType());
                    if (types.stream().anyMatch(t -> t.getName().startsWith("jdk.incubator.vector."))) {
                        crossing.add(m.toString());
                    }
                }
            }
        }
        assertEquals(List.of(), crossing);
    }

    @Test
    void everyQuantizerAndEncoderCompilesToVectorCode() throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-javaagent") && !a.startsWith("-agentlib")) {
                cmd.add(a);
            }
        }
        cmd.addAll(List.of("-XX:-TieredCompilation", "-XX:CICompilerCount=1", "-XX:+UnlockDiagnosticVMOptions",
                "-XX:+PrintCompilation", "-XX:CompileCommand=quiet",
                "-XX:CompileCommand=PrintInlining," + ROOT + "*::*",
                "-cp", System.getProperty("java.class.path"), SimdExportWorkout.class.getName(),
                Integer.toString(CALLS)));
        ChildProcess.Result r = ChildProcess.start(new ProcessBuilder(cmd), "the export's SIMD workout")
                .await(Duration.ofMinutes(10));
        Files.writeString(Path.of("target", "vector-compilation-" + VECTOR_BYTES + ".log"), r.stdout());
        assertEquals(0, r.exitCode(), r.stderr());
        assertTrue(r.stdout().contains("workout: " + CALLS + " calls"), r.stdout());

        List<String> refusals = new ArrayList<>();
        Set<String> compiled = new TreeSet<>();
        // Only our SIMD classes' compilations print inlining trees (CompileCommand=PrintInlining names them), so every
        // tree line is theirs; the last of their compilations announced names it (one compiler thread).
        String root = "a SIMD method";
        String vectorCall = null; // the Vector API method the last tree line named
        for (String line : r.stdout().split("\n")) {
            Matcher c = COMPILE.matcher(line);
            if (c.find()) {
                boolean gone = line.contains("made not entrant") || line.contains("made zombie");
                if (c.group(1).startsWith(ROOT) && !gone) {
                    root = c.group(1);
                    compiled.add(root.substring("org.distillery.export.".length()));
                }
                vectorCall = null;
                continue;
            }
            if (line.contains("\\-> TypeProfile") && vectorCall != null) {
                refusals.add(root + ": " + vectorCall + " bound by its type profile");
            }
            Matcher v = VECTOR_CALLEE.matcher(line);
            vectorCall = v.find() ? v.group(1) : null;
            if (vectorCall != null && REFUSED.matcher(v.group(2)).find()) {
                refusals.add(root + ": " + vectorCall + " " + v.group(2).strip());
            }
        }
        List<String> missing = new ArrayList<>();
        for (String m : vectorMethods()) {
            if (!compiled.contains(m) && !r.stdout().contains("org.distillery.export." + m + " ")) {
                missing.add(m);
            }
        }
        assertAll(() -> assertEquals(List.of(), missing, "methods with vector code that C2 neither compiled nor "
                        + "inlined in a printed tree (compiled roots: " + compiled + ")"),
                () -> assertEquals(List.of(), refusals, "vector operations C2 did not compile to SIMD, at "
                        + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED));
    }

    /**
     * The methods that hold vector code, each of which the workout must get compiled: the block quantizers only
     * where their lanes fit (at 4 float lanes the scalar ones run).
     */
    private static List<String> vectorMethods() {
        List<String> methods = new ArrayList<>(List.of("VectorEncoding::gather", "VectorEncoding::narrowVectors"));
        if (GgmlBlocks.SIMD) {
            methods.addAll(List.of("VectorBlocks::amax", "VectorBlocks::q8", "VectorBlocks::q4"));
        }
        if (GgmlBlocks.SIMD_K) {
            methods.addAll(List.of("VectorQ6K::search", "VectorQ6K::requantize"));
        }
        return methods;
    }
}
