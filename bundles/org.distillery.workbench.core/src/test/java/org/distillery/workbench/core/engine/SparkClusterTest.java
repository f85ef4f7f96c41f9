package org.distillery.workbench.core.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The named clusters of the preferences: kept, validated naming the cluster and field, resolved in the dialog. */
class SparkClusterTest {
    @Test
    void keptResolvedAndValidated() {
        List<SparkCluster> clusters = List.of(new SparkCluster("lab", "spark://10.0.0.5:7077", "hdfs://nn:8020/work"),
                new SparkCluster(" gpu ", "yarn", ""));
        assertEquals(clusters, SparkCluster.read(SparkCluster.write(clusters)));
        assertEquals("gpu", clusters.get(1).name(), "names are trimmed");
        assertEquals(List.of(), SparkCluster.problems(clusters));
        assertEquals("spark://10.0.0.5:7077", SparkCluster.masterOf("lab (spark://10.0.0.5:7077)", clusters));
        assertEquals("yarn", SparkCluster.masterOf("gpu", clusters));
        assertEquals("local[2]", SparkCluster.masterOf("local[2]", clusters), "a typed master is kept");
        assertEquals(List.of("cluster 'lab': name is used twice",
                "cluster 'lab': master 'local[2]' is no cluster's master URL, expected spark://host:port, yarn or"
                        + " k8s://...",
                "cluster 3: name is empty",
                "cluster 3: work folder 'work' is no URI (hdfs://..., s3a://...) or absolute path"),
                SparkCluster.problems(List.of(clusters.get(0), new SparkCluster("lab", "local[2]", ""),
                        new SparkCluster("", "spark://h:7077", "work"))));
        assertEquals(List.of(), SparkCluster.read("{broken"), "a damaged preference reads as none");
    }

    @Test
    void aClustersWorkFolderPlacesEachJobsOutputAsTheEngineLaysOutItsWorkDir() {
        SparkCluster lab = new SparkCluster("lab", "spark://10.0.0.5:7077", "hdfs://nn:8020/work/");
        assertEquals("hdfs://nn:8020/work/train/demo", lab.outFor(JobLaunch.Kind.TRAIN, "demo"));
        assertEquals("hdfs://nn:8020/work/teacher-logits/kd", lab.outFor(JobLaunch.Kind.TEACHER_LOGITS, "kd"));
        assertEquals("", lab.outFor(JobLaunch.Kind.EXPERIMENT, "kd"), "an experiment places its members itself");
        assertEquals("", new SparkCluster("gpu", "yarn", "").outFor(JobLaunch.Kind.TRAIN, "demo"),
                "no work folder: the engine's default");
        assertEquals(java.util.Optional.of(lab), SparkCluster.named("lab (spark://10.0.0.5:7077)", List.of(lab)));
        assertEquals(java.util.Optional.empty(), SparkCluster.named("spark://10.0.0.5:7077", List.of(lab)),
                "a typed URL names no cluster");
    }
}
