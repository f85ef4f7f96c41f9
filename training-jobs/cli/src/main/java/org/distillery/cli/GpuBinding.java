package org.distillery.cli;

import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;

/**
 * Which device a rank's ND4J work runs on, decided from the resources Spark gave its task
 * ({@code spark.task.resource.gpu.amount}, addresses found by the executor's discovery script) and from the ND4J
 * backend the job jar was built with (CPU by default, CUDA with {@code -Pcuda}). A CUDA rank binds its thread to
 * its GPU before any allocation (ND4J's affinity manager keeps a thread's arrays on its device), and does all its
 * ND4J work on that thread.
 *
 * @param device the CUDA device ordinal to bind, or null: ND4J's default device (the CPU backend: the CPU)
 * @param note   what to tell the user about the choice (a GPU given but unusable, several given), or null
 */
record GpuBinding(Integer device, String note) {
    /** The resource name Spark's GPU scheduling uses. */
    static final String GPU = "gpu";
    private static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";

    /** The decision for rank {@code rank} given its task's resources (name to addresses) and the backend. */
    static GpuBinding decide(int rank, Map<String, List<String>> resources, boolean cuda) {
        List<String> gpus = resources.getOrDefault(GPU, List.of());
        if (gpus.isEmpty()) {
            return new GpuBinding(null, cuda ? "rank " + rank + ": Spark gave this task no GPU (set"
                    + " spark.task.resource.gpu.amount=1 and spark.executor.resource.gpu.amount): ND4J's default"
                    + " device is used, which ranks on one host share" : null);
        }
        if (!cuda) {
            return new GpuBinding(null, "rank " + rank + ": Spark gave this task GPU " + String.join(",", gpus)
                    + ", but this job jar's ND4J backend is the CPU one: it trains on the CPU (build with -Pcuda"
                    + " for the CUDA backend)");
        }
        String first = gpus.get(0).strip();
        int device;
        try {
            device = Integer.parseInt(first);
        } catch (NumberFormatException e) {
            throw new DistilleryException("rank " + rank + ": Spark gave this task GPU address '" + first
                    + "', which is no CUDA device ordinal (0, 1, ...): the executor's GPU discovery script"
                    + " (spark.executor.resource.gpu.discoveryScript) must report ordinals");
        }
        if (device < 0) {
            throw new DistilleryException("rank " + rank + ": GPU address " + device + " is negative: the discovery"
                    + " script must report CUDA device ordinals (0, 1, ...)");
        }
        return new GpuBinding(device, gpus.size() > 1 ? "rank " + rank + ": Spark gave this task " + gpus.size()
                + " GPUs (" + String.join(",", gpus) + "); a rank uses one, GPU " + device
                + ": set spark.task.resource.gpu.amount=1 and run a rank per GPU" : null);
    }

    /** Whether the job jar carries ND4J's CUDA backend (the {@code cuda} Maven profile), without loading it. */
    static boolean cudaBackend() {
        try {
            Class.forName(CUDA_BACKEND, false, GpuBinding.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** Binds the calling thread to {@link #device} (a CUDA device), before it allocates any array. */
    void bind() {
        if (device != null) {
            org.nd4j.linalg.factory.Nd4j.getAffinityManager().unsafeSetDevice(device);
        }
    }
}
