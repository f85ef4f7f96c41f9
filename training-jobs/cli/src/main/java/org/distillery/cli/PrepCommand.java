package org.distillery.cli;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.io.Location;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.spec.PrepSpec;
import org.distillery.core.spec.SpecReader;
import org.distillery.prep.PrepJob;
import org.distillery.prep.SparkApplicationEvents;
import org.distillery.prep.SparkSessions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "prep", description = "Raw corpora to checksummed token shards, as a Spark job.")
final class PrepCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the prep spec (YAML)")
    Path specFile;

    @Mixin
    SpecOverrides set;

    @Option(names = "--master", description = "Spark master URL (default: spark-submit's, then the spec's spark.master,"
            + " then local[*])")
    String master;

    @Option(names = "--out", description = "output folder: a path, or a Hadoop file system URI such as"
            + " hdfs://namenode:8020/prep/run1 (default: <work-dir>/prep/<name>)")
    String out;

    @Option(names = "--overwrite", description = "replace an existing output folder")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        PrepSpec spec = SpecReader.readLocated(specFile, PrepSpec.class, set.list()).spec();
        Location output = out != null ? Location.parse(out, Path.of("").toAbsolutePath())
                : Location.of(top.workDir().resolve("prep").resolve(spec.name()));
        SparkSession spark = JobJar.open(new SparkSessions.Request("distillery-prep-" + spec.name(), master,
                spec.spark().master(), spec.spark().partitions()));
        try (ProgressListener progress = top.progress();
             SparkApplicationEvents app = SparkApplicationEvents.watch(spark, PrepJob.JOB, progress)) {
            PrepJob.Result r;
            try {
                r = new PrepJob(spec, specFile.toAbsolutePath().getParent(), top.catalog(), output, overwrite, progress)
                        .run(spark);
            } catch (RuntimeException e) {
                progress.on(ProgressEvent.failed(PrepJob.JOB, e.getMessage()));
                throw e;
            }
            printSummary(r);
        } finally {
            spark.stop();
        }
        return 0;
    }

    private static void printSummary(PrepJob.Result r) {
        ShardManifest m = r.manifest();
        ShardManifest.Stats s = m.stats();
        System.out.println("output        " + r.location());
        System.out.println("documents     read " + s.documentsRead() + ", empty " + s.documentsEmpty() + ", kept "
                + s.documentsKept());
        for (Map.Entry<String, Long> e : s.removedByFilter().entrySet()) {
            System.out.printf("  filter      %-28s removed %d%n", e.getKey(), e.getValue());
        }
        System.out.printf("dedup         exact %d, near %d, ratio %.4f%n", s.exactDuplicates(), s.nearDuplicates(),
                s.dedupRatio());
        System.out.println("tokenizer     vocab " + m.tokenizer().vocabSize() + ", sha256 " + m.tokenizer().sha256());
        System.out.println("tokens        train " + m.tokens("train") + ", val " + m.tokens("val") + " (" + m.dtype() + ")");
    }
}
