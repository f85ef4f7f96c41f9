package org.distillery.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.distillery.core.DistilleryException;
import org.distillery.model.train.TrainJob;
import org.distillery.prep.PrepJob;

/**
 * The files a command line names by their folders: a train or distill output folder stands for its
 * {@code model.ckpt}, a prep output folder for its {@code tokenizer.json}, as users point at what a job wrote.
 */
final class ModelFiles {
    private ModelFiles() {
    }

    /** {@code path} itself, or the {@code model.ckpt} of the output folder it names. */
    static Path checkpoint(Path path) {
        return inFolder(path, TrainJob.MODEL_FILE, "a .ckpt file or a train or distill output folder");
    }

    /** {@code path} itself, or the {@code tokenizer.json} of the prep output folder it names. */
    static Path tokenizer(Path path) {
        return inFolder(path, PrepJob.TOKENIZER_FILE, "a tokenizer.json or a prep output folder");
    }

    private static Path inFolder(Path path, String file, String expected) {
        if (!Files.isDirectory(path)) {
            return path;
        }
        Path inside = path.resolve(file);
        if (!Files.isRegularFile(inside)) {
            throw new DistilleryException(path + ": a folder without " + file + "; expected " + expected);
        }
        return inside;
    }
}
