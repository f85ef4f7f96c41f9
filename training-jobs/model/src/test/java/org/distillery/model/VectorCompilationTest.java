package org.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
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
 * The guard on the engine's speed that no timing can give: every Vector API kernel, once C2 compiles it, has each
 * vector operation compiled to SIMD, not to the API's Java fallback (a third of a training step was lost to that
 * once, unnoticed: docs/findings.md). A child JVM runs {@link VectorKernelsWorkout} with one C2 compiler thread
 * and prints each kernel's inlining tree; any vector operation that failed to intrinsify, and any call that C2
 * refused to inline where a vector crosses it, fails the test with its line. It runs again at the second vector
 * width (the JVM's own flags are passed on).
 */
@Tag("numerical")
class VectorCompilationTest {
    private static final String ROOT = "org.distillery.model.VectorKernels::";
    /** A PrintCompilation line: time, id, flags, method, size. */
    private static final Pattern COMPILE = Pattern.compile("^\\s*\\d+\\s+\\d+\\s+[%sbn! ]*\\s*(\\S+::\\S+)");
    /**
     * An inlining decision about the Vector API or its intrinsics. Our own methods may stay calls: none takes
     * or returns a vector ({@link #noKernelPassesAVectorAcrossACall}).
     */
    private static final Pattern VECTOR_CALLEE = Pattern.compile(
            "@ \\d+\\s+(jdk\\.incubator\\.vector\\.\\S+|jdk\\.internal\\.vm\\.vector\\.\\S+) \\(\\d+ bytes\\)\\s+(.*)$");
    /** C2's reasons for not inlining or not intrinsifying. */
    private static final Pattern REFUSED = Pattern.compile("failed|NodeCountInliningCutoff|too large|too big|too deep|"
            + "big method|too much stack|DesiredMethodLimit|not inline|unloaded|no static binding");
    private static final Set<String> KERNELS = Set.of("expReduce", "expScale", "sum", "softmaxRow", "gelu", "geluBackward",
            "causalSoftmaxRows", "softmaxBackwardRows", "swiglu", "swigluBackward", "sumOfSquaresSpan",
            "columnSumsBand", "addRange", "addBiasBlock");

    /**
     * C2 stops inlining our methods once a compilation passes its node budget, and a vector that crosses a call
     * that is not inlined is boxed and runs the API's Java fallback: so no method of the engine takes or
     * returns one.
     */
    private static final int VECTOR_BYTES = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorByteSize();

    @Test
    void noKernelPassesAVectorAcrossACall() {
        List<String> crossing = new ArrayList<>();
        for (java.lang.reflect.Method m : VectorKernels.class.getDeclaredMethods()) {
            List<Class<?>> types = new ArrayList<>(List.of(m.getParameterTypes()));
            types.add(m.getReturnType());
            if (types.stream().anyMatch(t -> t.getName().startsWith("jdk.incubator.vector."))) {
                crossing.add(m.toString());
            }
        }
        assertEquals(List.of(), crossing);
    }

    @Test
    void everyKernelCompilesToVectorCode() throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-javaagent") && !a.startsWith("-agentlib")) {
                cmd.add(a);
            }
        }
        cmd.addAll(List.of("-XX:-TieredCompilation", "-XX:CICompilerCount=1", "-XX:+UnlockDiagnosticVMOptions",
                "-XX:+PrintCompilation", "-XX:CompileCommand=quiet", "-XX:CompileCommand=PrintInlining," + ROOT + "*",
                // exp's halves run through method handles, whose customized forms may inline one half each (a
                // compilation of that half alone): kept their own compilations here, so their trees print
                "-XX:CompileCommand=dontinline," + ROOT + "expReduce", "-XX:CompileCommand=dontinline," + ROOT + "expScale",
                "-cp", System.getProperty("java.class.path"), VectorKernelsWorkout.class.getName(), "30000"));
        ChildProcess.Result r = ChildProcess.start(new ProcessBuilder(cmd), "the kernel workout")
                .await(Duration.ofMinutes(10));
        java.nio.file.Files.writeString(Path.of("target", "vector-compilation-" + VECTOR_BYTES + ".log"), r.stdout());
        assertEquals(0, r.exitCode(), r.stderr());
        assertTrue(r.stdout().contains("workout: 30000 calls"), r.stdout());

        List<String> refusals = new ArrayList<>();
        Set<String> compiled = new TreeSet<>();
        // Only our kernels' compilations print inlining trees (CompileCommand=PrintInlining names them), so every
        // tree line is theirs; the last kernel compilation announced names it (one compiler thread).
        String root = "a kernel";
        String vectorCall = null; // the Vector API method the last tree line named
        for (String line : r.stdout().split("\n")) {
            Matcher c = COMPILE.matcher(line);
            if (c.find()) {
                if (c.group(1).startsWith(ROOT) && !line.contains("made not entrant") && !line.contains("made zombie")) {
                    root = c.group(1);
                    compiled.add(root.substring(ROOT.length()).replaceAll("\\$.*", ""));
                }
                vectorCall = null;
                continue;
            }
            // A vector whose class C2 did not see while parsing (a loop's phi, an OSR local, the result of a call
            // inlined late past the node budget) is bound by its type profile: complete here, but a compilation
            // that comes before the profile keeps the call and runs the API's fallback (docs/findings.md).
            if (line.contains("\\-> TypeProfile") && vectorCall != null) {
                refusals.add(root + ": " + vectorCall + " bound by its type profile");
            }
            Matcher v = VECTOR_CALLEE.matcher(line);
            vectorCall = v.find() ? v.group(1) : null;
            if (vectorCall != null && REFUSED.matcher(v.group(2)).find()) {
                refusals.add(root + ": " + vectorCall + " " + v.group(2).strip());
            }
        }
        for (String k : KERNELS) {
            assertTrue(compiled.stream().anyMatch(k::equals) || r.stdout().contains(ROOT + k + " "),
                    "C2 compiled or inlined " + k + " (compiled roots: " + compiled + ")");
        }
        assertEquals(List.of(), refusals, "vector operations C2 did not compile to SIMD, at "
                + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED);
    }
}
