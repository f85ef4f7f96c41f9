package org.distillery.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.spec.SpecReader;
import org.distillery.core.spec.TeacherLogitsSpec;
import org.distillery.prep.SparkApplicationEvents;
import org.distillery.prep.SparkSessions;
import org.distillery.core.io.Location;
import org.distillery.prep.TeacherLogitsJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "teacher-logits", description = "Run a teacher over prep shards on Spark and keep its top-k logits per"
        + " position, for distill runs without a live teacher (distillation.teacher_logits).")
final class TeacherLogitsCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "SPEC", description = "the teacher-logits spec (YAML)")
    Path specFile;

    @Mixin
    SpecOverrides set;

    @Option(names = "--master", description = "Spark master URL (default: spark-submit's, then the spec's spark.master,"
            + " then local[*])")
    String master;

    @Option(names = "--out", description = "output folder, a path or a Hadoop file system URI such as hdfs://...;"
            + " default: <work-dir>/teacher-logits/<name>")
    String out;

    @Option(names = "--overwrite", description = "replace an existing output folder")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        SpecReader.Located<TeacherLogitsSpec> located = SpecReader.readLocated(specFile, TeacherLogitsSpec.class,
                set.list());
        TeacherLogitsSpec spec = located.spec();
        Location data = TrainingLaunch.shardsWhereTheyAre(top, specFile, located, spec.data());
        TeacherSource teacher = TeacherSource.resolve(top, located, spec.teacher(), specFile);
        Location output = out != null ? Location.parse(out, Path.of("").toAbsolutePath())
                : Location.of(top.workDir().resolve("teacher-logits").resolve(spec.name()));
        SparkSession spark = JobJar.open(new SparkSessions.Request("distillery-teacher-logits-" + spec.name(),
                master, spec.spark().master(), spec.spark().partitions()));
        try (ProgressListener progress = top.progress();
             SparkApplicationEvents app = SparkApplicationEvents.watch(spark, TeacherLogitsJob.JOB, progress)) {
            TeacherLogitsJob.Result r;
            try {
                r = new TeacherLogitsJob(located, teacher.checkpoint(), teacher.source(), data, output,
                        overwrite, progress).run(spark);
            } catch (RuntimeException e) {
                progress.on(ProgressEvent.failed(TeacherLogitsJob.JOB, e.getMessage()));
                throw e;
            }
            TeacherLogitsManifest mf = r.manifest();
            long positions = mf.windows() * mf.window();
            long bytes = mf.shards().stream().mapToLong(s -> s.bytes()).sum();
            System.out.println("output        " + r.location());
            System.out.printf("windows       %d of %d tokens (%d positions) in %d shards%n", mf.windows(),
                    mf.window(), positions, mf.shards().size());
            System.out.printf("kept          top %d at temperature %s, %.1f bytes per position%n", mf.topK(),
                    mf.temperature(), (double) bytes / positions);
            System.out.printf("speed         %.0f positions/s (%.1f s)%n", positions / r.seconds(), r.seconds());
            if (r.reusedShards() > 0) {
                System.out.printf("resumed       %d of %d shards were scored by an earlier run that stopped%n",
                        r.reusedShards(), mf.shards().size());
            }
        } finally {
            spark.stop();
        }
        return 0;
    }
}
