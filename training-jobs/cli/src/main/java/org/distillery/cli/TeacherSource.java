package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
        for (Path p : candidates(top, teacher, specFile)) {
            if (Files.isRegularFile(p) || Files.isRegularFile(p.resolve("config.json"))) {
                return new TeacherSource(p, Files.isDirectory(p) ? HfImporter.read(p, Distillery.version())
                        : Checkpoint.read(p));
            }
        }
        throw located.error("teacher", "is " + teacher + ", which is neither a checkpoint nor a Hugging Face folder (with"
                + " config.json) relative to " + specDir + " or to the work dir " + top.workDir());
    }

    /** Where a spec's {@code teacher} may be, in the order looked at: beside the spec, then in the work dir. */
    static List<Path> candidates(Distillery top, String teacher, Path specFile) {
        return List.of(specFile.toAbsolutePath().getParent().resolve(teacher).normalize(),
                top.workDir().toAbsolutePath().resolve(teacher).normalize());
    }
}
