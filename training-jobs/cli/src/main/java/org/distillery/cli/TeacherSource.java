package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.RemoteFiles;
import org.distillery.core.spec.SpecReader;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;

/**
 * A spec's {@code teacher}: a Distillery checkpoint or a Hugging Face GPT-2 folder (imported on the
 * fly), found relative to the spec's folder, else to the work dir. {@code distill} and
 * {@code teacher-logits} name teachers the same way.
 */
record TeacherSource(String source, Checkpoint checkpoint) {

    static TeacherSource resolve(Distillery top, SpecReader.Located<?> located, String teacher, Path specFile) {
        Path specDir = specFile.toAbsolutePath().getParent();
        Location at = Location.parse(teacher, specDir);
        if (at.isRemote()) {
            return fetch(at);
        }
        Path p = find(top, located, teacher, specFile);
        return new TeacherSource(p.toString(), Files.isDirectory(p) ? HfImporter.read(p, Distillery.version())
                : Checkpoint.read(p));
    }

    /**
     * A teacher where the driver found it ({@link #where}): an absolute path, or a Hadoop file system URI, as the
     * ranks of a distributed run read it.
     */
    static TeacherSource load(String where) {
        Location at = Location.parse(where, Path.of("").toAbsolutePath());
        if (at.isRemote()) {
            return fetch(at);
        }
        Path p = at.local();
        return new TeacherSource(p.toString(), Files.isDirectory(p) ? HfImporter.read(p, Distillery.version())
                : Checkpoint.read(p));
    }

    /** Where a spec's {@code teacher} is, for {@link #load}: the URI, or the absolute path of what {@link #find} finds. */
    static String where(Distillery top, SpecReader.Located<?> located, String teacher, Path specFile) {
        Location at = Location.parse(teacher, specFile.toAbsolutePath().getParent());
        return at.isRemote() ? at.remote().toString() : find(top, located, teacher, specFile).toAbsolutePath().toString();
    }

    /**
     * The local checkpoint file or Hugging Face folder a spec's {@code teacher} names, not read yet; an error at the
     * spec's line when there is none. A teacher on a Hadoop file system is not looked for (null).
     */
    static Path find(Distillery top, SpecReader.Located<?> located, String teacher, Path specFile) {
        Path specDir = specFile.toAbsolutePath().getParent();
        if (Location.parse(teacher, specDir).isRemote()) {
            return null;
        }
        for (Path p : candidates(top, teacher, specFile)) {
            if (Files.isRegularFile(p) || Files.isRegularFile(p.resolve("config.json"))) {
                return p;
            }
        }
        throw located.error("teacher", "is " + teacher + ", which is neither a checkpoint nor a Hugging Face folder (with"
                + " config.json) relative to " + specDir + " or to the work dir " + top.workDir());
    }

    /**
     * A teacher on a Hadoop file system: a checkpoint file, or a Hugging Face folder, read through a local copy
     * that is removed once loaded (a checkpoint checks its own sections as it is read).
     */
    private static TeacherSource fetch(Location at) {
        RemoteFiles files = at.files();
        Path copy = null;
        try {
            if (!files.exists(at.remote())) {
                throw new DistilleryException(at + ": no such file or folder (the spec's teacher)");
            }
            if (files.isDirectory(at.remote())) {
                copy = Files.createTempDirectory("distillery-teacher-");
                String root = at.remote().getPath().replaceAll("/+$", "");
                for (java.net.URI f : files.listFiles(at.remote())) {
                    Path local = copy.resolve(f.getPath().substring(root.length() + 1));
                    Files.createDirectories(local.getParent());
                    files.download(f, local);
                }
                if (!Files.isRegularFile(copy.resolve("config.json"))) {
                    throw new DistilleryException(at + ": a folder without config.json, so not a Hugging Face model"
                            + " (the spec's teacher)");
                }
                return new TeacherSource(at.toString(), HfImporter.read(copy, Distillery.version()));
            }
            copy = Files.createTempFile("distillery-teacher-", ".ckpt");
            files.download(at.remote(), copy);
            return new TeacherSource(at.toString(), Checkpoint.read(copy));
        } catch (java.io.IOException e) {
            throw new DistilleryException(at + ": cannot read the teacher: " + e.getMessage(), e);
        } finally {
            if (copy != null) {
                try {
                    Directories.deleteRecursively(copy);
                } catch (java.io.IOException e) {
                    // a temporary copy: the OS cleans its temp folder
                }
            }
        }
    }

    /** Where a spec's {@code teacher} may be, in the order looked at: beside the spec, then in the work dir. */
    static List<Path> candidates(Distillery top, String teacher, Path specFile) {
        return List.of(specFile.toAbsolutePath().getParent().resolve(teacher).normalize(),
                top.workDir().toAbsolutePath().resolve(teacher).normalize());
    }
}
