package org.distillery.core.process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * This machine's processor as Linux describes it in /proc/cpuinfo: its name, its instruction-set flags and the
 * cores this JVM may use. Elsewhere (no /proc/cpuinfo) the name is the JVM's os.arch and no flag is known.
 */
public record Processor(String model, Set<String> flags, int cores) {
    public Processor {
        flags = Set.copyOf(flags);
    }

    /** The processor of this JVM. */
    public static Processor current() {
        int cores = Runtime.getRuntime().availableProcessors();
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8);
            String model = lines.stream().filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).strip()).orElse(System.getProperty("os.arch"));
            String flags = lines.stream().filter(l -> l.startsWith("flags")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1)).orElse("");
            return new Processor(model, Set.of(flags.strip().split("\\s+")), cores);
        } catch (IOException e) {
            return new Processor(System.getProperty("os.arch"), Set.of(), cores);
        }
    }

    public boolean has(String flag) {
        return flags.contains(flag);
    }

    /** Whether the processor multiplies bfloat16 in hardware: AVX512-BF16 (Cooper Lake, Zen 4 on) or AMX-BF16. */
    public boolean bf16() {
        return has("avx512_bf16") || has("amx_bf16");
    }

    /** Its widest vector extension: AMX, AVX-512, AVX2 or "no AVX2". */
    public String simd() {
        return has("amx_bf16") ? "AMX" : has("avx512f") ? "AVX-512" : has("avx2") ? "AVX2" : "no AVX2";
    }

    /** "name, widest extension, N cores": how benchmark figures name their machine. */
    public String describe() {
        return flags.isEmpty() ? model + ", " + cores + " cores" : model + ", " + simd() + ", " + cores + " cores";
    }
}
