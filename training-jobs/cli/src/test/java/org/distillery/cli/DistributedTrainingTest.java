package org.distillery.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Location;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The decisions of a distributed run that need no cluster: a rank's device from the GPU addresses Spark gives its
 * task (DistributedTrainIT gives real ones, from a discovery script, on a standalone cluster), the warning for a
 * local folder on a master of several hosts, and the mistakes a user can make asking for ranks.
 */
class DistributedTrainingTest {
    @TempDir
    Path dir;

    @Test
    void aCudaRankBindsTheFirstGpuSparkGaveItsTask() {
        GpuBinding b = GpuBinding.decide(1, Map.of("gpu", List.of("3")), true);
        assertEquals(3, b.device());
        assertNull(b.note());
        GpuBinding two = GpuBinding.decide(0, Map.of("gpu", List.of("0", "1")), true);
        assertEquals(0, two.device());
        assertTrue(two.note().contains("a rank uses one, GPU 0"), two.note());
    }

    @Test
    void aCpuRankGivenAGpuSaysItTrainsOnTheCpu() {
        GpuBinding b = GpuBinding.decide(0, Map.of("gpu", List.of("0")), false);
        assertNull(b.device());
        assertTrue(b.note().contains("Spark gave this task GPU 0, but this job jar's ND4J backend is the CPU one"),
                b.note());
        assertNull(GpuBinding.decide(0, Map.of(), false).note(), "a CPU rank with no GPU: nothing to say");
        GpuBinding none = GpuBinding.decide(2, Map.of(), true);
        assertNull(none.device());
        assertTrue(none.note().contains("rank 2: Spark gave this task no GPU"), none.note());
        assertNull(GpuBinding.decide(0, Map.of(), false).device());
        assertTrue(!GpuBinding.cudaBackend(), "this build's backend is ND4J's CPU one");
    }

    @Test
    void aGpuAddressThatIsNoDeviceOrdinalIsAnErrorNamingIt() {
        DistilleryException e = assertThrows(DistilleryException.class,
                () -> GpuBinding.decide(1, Map.of("gpu", List.of("GPU-5f3a")), true));
        assertTrue(e.getMessage().startsWith("rank 1: Spark gave this task GPU address 'GPU-5f3a', which is no CUDA"
                + " device ordinal"), e.getMessage());
    }

    @Test
    void aLocalFolderOnAMasterOfOtherHostsIsAWarning() {
        Location local = Location.of(dir.resolve("out"));
        String w = DistributedTraining.unseen("the output folder", local, "spark://10.1.2.3:7077").orElseThrow();
        assertEquals("warning: the output folder " + dir.resolve("out") + " is a local path, but spark://10.1.2.3:7077"
                + " may run ranks on other hosts, which would not see it: give an hdfs:// (or another Hadoop file"
                + " system's) URI", w);
        assertTrue(DistributedTraining.unseen("x", local, "spark://127.0.0.1:7077").isEmpty(), "one host");
        assertTrue(DistributedTraining.unseen("x", local, "local[2]").isEmpty(), "local mode");
        assertTrue(DistributedTraining.unseen("x", Location.parse("hdfs://nn:8020/out", dir), "spark://10.1.2.3:7077")
                .isEmpty(), "a Hadoop file system every host sees");
    }

    @Test
    void zeroRanksIsAnErrorOnTheCommandLineAndInTheSpec() throws Exception {
        Path spec = dir.resolve("t.yaml");
        Files.writeString(spec, "name: t\ndata: {path: " + dir + "}\ndistributed:\n  ranks: 0\n");
        CliRun inSpec = CliRun.of("--work-dir", dir.toString(), "train", spec.toString());
        assertEquals(2, inSpec.code());
        assertTrue(inSpec.err().contains(spec + ":4: distributed.ranks must be 1 (one process) or more ranks, one"
                + " Spark task each, found 0"), inSpec.err());
        Files.writeString(spec, "name: t\ndata: {path: " + dir + "}\n");
        CliRun option = CliRun.of("--work-dir", dir.toString(), "train", spec.toString(), "--ranks", "0");
        assertEquals(2, option.code());
        assertTrue(option.err().contains("error: --ranks 0: must be 1 (one process) or more ranks, one Spark task each"),
                option.err());
    }

    /** A secured run refuses a Spark whose RPC is not authenticated and encrypted, naming the spec line and setting. */
    @Test
    void aSecuredRunRequiresSparksAuthenticationAndEncryption() throws Exception {
        Path spec = dir.resolve("secure.yaml");
        Files.writeString(spec, "name: t\ndata: {path: " + dir + "}\ndistributed:\n  ranks: 2\n  secure: true\n");
        org.distillery.core.spec.SpecReader.Located<org.distillery.core.spec.TrainSpec> located =
                org.distillery.core.spec.SpecReader.readLocated(spec, org.distillery.core.spec.TrainSpec.class);
        org.apache.spark.SparkConf conf = new org.apache.spark.SparkConf(false).set("spark.authenticate", "true")
                .set("spark.network.crypto.enabled", "false");
        org.distillery.core.DistilleryException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.distillery.core.DistilleryException.class, () -> DistributedTraining.requireSecure(conf, located));
        assertTrue(e.getMessage().startsWith(spec + ":5: distributed.secure asks for Spark's authentication and RPC"
                + " encryption, but spark.network.crypto.enabled is false"), e.getMessage());
        DistributedTraining.requireSecure(conf.set("spark.network.crypto.enabled", "true"), located);
        assertEquals(java.util.Map.of("spark.authenticate", "true", "spark.network.crypto.enabled", "true"),
                DistributedTraining.SECURE_SETTINGS);
    }
}
