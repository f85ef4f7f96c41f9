package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.spec.SpecReader;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;

/**
 * A spec's {@code teacher}: a Distillery checkpoint or a Hugging Face GPT-2 folder (imported on the
 * fly), found relative to the spec's folder, else to the work dir. {@code distill} and
 * {@code teacher-logits} name teachers the same way.
 */
record TeacherSource(Path path, Checkpoint checkpoint) {

    static TeacherSource resolve(Distillery top, SpecReader.Located<?> located, String teacher, Path specFile) {
        Path specDir = specFile.toAbsolutePath().getParent();
        for (Path p : new Path[] {specDir.resolve(teacher).normalize(), top.workDir().resolve(teacher).normalize()}) {
            if (Files.isRegularFile(p) || Files.isRegularFile(p.resolve("config.json"))) {
                return new TeacherSource(p, Files.isDirectory(p) ? HfImporter.read(p, Distillery.version())
                        : Checkpoint.read(p));
            }
        }
        throw located.error("teacher", "is " + teacher + ", which is neither a checkpoint nor a Hugging Face folder (with"
                + " config.json) relative to " + specDir + " or to the work dir " + top.workDir());
    }
}
