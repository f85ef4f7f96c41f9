package org.distillery.core.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.distillery.core.DistilleryException;

/**
 * Writes a folder of files so that its final name only ever holds the complete set: the files go
 * (each through {@link AtomicFile}) into a hidden staging folder beside the target, which is renamed
 * to the target once all are on disk. A crash leaves at most a {@code .partial-} folder behind; a
 * reader never sees a config without its weights.
 */
public final class AtomicDirectory {
    private AtomicDirectory() {
    }

    @FunctionalInterface
    public interface Content {
        void writeInto(Path staging) throws IOException;
    }

    /**
     * Writes {@code target}; an existing non-empty target is an error unless {@code overwrite}, when it
     * is replaced (removed only after the new folder is complete).
     */
    public static void write(Path target, boolean overwrite, Content content) throws IOException {
        Path abs = target.toAbsolutePath();
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        if (Files.exists(abs) && !(Files.isDirectory(abs) && isEmpty(abs)) && !overwrite) {
            throw new DistilleryException(target + ": already exists and is not empty (use --overwrite to replace it)");
        }
        Path staging = parent.resolve("." + abs.getFileName() + ".partial-" + UUID.randomUUID());
        try {
            Files.createDirectory(staging);
            content.writeInto(staging);
            AtomicFile.syncDirectory(staging);
            replace(staging, abs);
        } catch (Throwable e) {
            try {
                Directories.deleteRecursively(staging);
            } catch (IOException | RuntimeException cleanup) {
                e.addSuppressed(cleanup); // the failure that brought us here is the one to report
            }
            throw e;
        }
    }

    /**
     * Renames the complete folder {@code staging} to {@code abs}. An existing {@code abs} is renamed aside first
     * (so it stays whole until the new one is in place) and deleted after; if the rename into place fails, it is
     * renamed back, so a failed overwrite leaves the previous output as it was. Errors name {@code abs}.
     */
    private static void replace(Path staging, Path abs) throws IOException {
        Path parent = abs.getParent();
        Path old = parent.resolve("." + abs.getFileName() + ".old-" + UUID.randomUUID());
        boolean aside = false;
        if (Files.exists(abs)) {
            Files.move(abs, old);
            aside = true;
        }
        try {
            Files.move(staging, abs);
        } catch (IOException e) {
            String failed = abs + ": cannot put the new folder in place (" + FileAccessException.describe(e) + ")";
            if (!aside) {
                throw new IOException(failed, e);
            }
            try {
                Files.move(old, abs);
            } catch (IOException back) {
                // keep the old copy where it is: it may be the only one
                throw new IOException(failed + ", nor put the previous one back (" + FileAccessException.describe(back)
                        + "): it is kept at " + old, e);
            }
            AtomicFile.syncDirectory(parent);
            throw new IOException(failed + "; the previous one is left as it was", e);
        }
        try {
            AtomicFile.syncDirectory(parent);
        } finally {
            if (aside) {
                Directories.deleteRecursively(old);
            }
        }
    }

    /**
     * {@link #write} for a folder that may be on another file system ({@code hdfs://}): the content is written
     * into a local scratch folder, copied file by file into a hidden staging folder beside the target, and put
     * in place there with one rename ({@link #publish}). A failure removes the remote staging folder; a killed
     * process leaves at most that hidden folder, never one under the target's name.
     */
    public static void write(Location target, boolean overwrite, Content content) throws IOException {
        if (!target.isRemote()) {
            write(target.local(), overwrite, content);
            return;
        }
        RemoteFiles files = target.files();
        if (files.exists(target.remote()) && !overwrite) {
            throw new DistilleryException(target + ": already exists (use --overwrite to replace it)");
        }
        Path scratch = Files.createTempDirectory("distillery-out-");
        Location staging = target.sibling("." + target.name() + ".partial-" + UUID.randomUUID());
        boolean published = false;
        try {
            content.writeInto(scratch);
            List<Path> written;
            try (Stream<Path> s = Files.walk(scratch)) {
                written = s.filter(Files::isRegularFile).sorted().toList();
            }
            for (Path f : written) {
                Location to = staging;
                for (Path part : scratch.relativize(f)) {
                    to = to.resolve(part.toString());
                }
                files.upload(f, to.remote());
            }
            publish(staging, target);
            published = true;
        } finally {
            Directories.deleteRecursively(scratch);
            if (!published) {
                try {
                    files.delete(staging.remote());
                } catch (IOException | RuntimeException e) {
                    // the failure that brought us here is the one to report
                }
            }
        }
    }

    /**
     * Puts a complete staging folder on a remote file system in the place of {@code target}: an old target is
     * renamed aside first and removed only once the new one is in place. If the rename into place fails, the old
     * target is renamed back, so a failed overwrite leaves the previous output as it was; the staging folder is
     * the caller's to remove.
     */
    public static void publish(Location staging, Location target) throws IOException {
        RemoteFiles files = target.files();
        Location old = target.sibling("." + target.name() + ".old-" + UUID.randomUUID());
        boolean replaced = files.exists(target.remote());
        if (replaced) {
            files.rename(target.remote(), old.remote());
        }
        try {
            files.rename(staging.remote(), target.remote());
        } catch (IOException | RuntimeException e) {
            if (replaced) {
                putBack(files, old, target, e);
            }
            throw e;
        }
        if (replaced) {
            files.delete(old.remote());
        }
    }

    /**
     * Renames the old {@code target}, set aside at {@code old}, back after {@code failure}; if that fails too the
     * error says where the old copy is kept (never deleted: it may be the only one).
     */
    private static void putBack(RemoteFiles files, Location old, Location target, Exception failure)
            throws IOException {
        String problem;
        try {
            if (!files.exists(target.remote())) { // a rename onto a folder would move the old one into it
                files.rename(old.remote(), target.remote());
                return;
            }
            problem = target + " exists again";
        } catch (IOException | RuntimeException back) {
            problem = back.getMessage();
        }
        throw new IOException(failure.getMessage() + "; the previous " + target + " could not be put back (" + problem
                + "): it is kept at " + old, failure);
    }

    /** The file in a resumable staging folder that names the work it holds. */
    public static final String RESUME_KEY = ".resume-key";

    /**
     * Like {@link #write}, but for long work made of independent files: the staging folder has a fixed
     * name ({@code .<target>.partial}) and is kept when {@code content} fails or the process dies, so
     * the next run with the same {@code key} (what identifies the work: inputs and settings) finds the
     * files already finished there. A staging folder left by other work is discarded. Files in it must
     * be written through {@link AtomicFile}, so a finished name always holds a whole file.
     */
    public static void writeResumable(Path target, boolean overwrite, String key, Content content) throws IOException {
        Path abs = target.toAbsolutePath();
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        if (Files.exists(abs) && !(Files.isDirectory(abs) && isEmpty(abs)) && !overwrite) {
            throw new DistilleryException(target + ": already exists and is not empty (use --overwrite to replace it)");
        }
        Path staging = resumableStaging(abs);
        Path keyFile = staging.resolve(RESUME_KEY);
        if (Files.isDirectory(staging)
                && !(Files.isRegularFile(keyFile) && Files.readString(keyFile).strip().equals(key))) {
            Directories.deleteRecursively(staging); // another job's leftovers: nothing to resume from
        }
        Files.createDirectories(staging);
        AtomicFile.write(keyFile, (key + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        AtomicFile.removeLeftovers(staging);
        content.writeInto(staging); // on failure the staging folder stays, for the next run to resume
        Files.delete(keyFile);
        AtomicFile.syncDirectory(staging);
        try {
            replace(staging, abs);
        } catch (IOException e) {
            try {
                // the finished work stays resumable: a rerun finds every file done
                AtomicFile.write(keyFile, (key + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /** Content written into a staging folder that may be on another file system. */
    @FunctionalInterface
    public interface LocatedContent {
        void writeInto(Location staging) throws IOException;
    }

    /**
     * {@link #writeResumable} for a folder anywhere. On another file system ({@code hdfs://}) the staging folder
     * ({@code .<target>.partial}) is there too, beside the target, kept across failures with its key file as
     * a local one is, and put in place with one rename. Files in it must appear whole under their final names
     * (written elsewhere, then renamed in).
     */
    public static void writeResumable(Location target, boolean overwrite, String key, LocatedContent content)
            throws IOException {
        if (!target.isRemote()) {
            writeResumable(target.local(), overwrite, key, staging -> content.writeInto(Location.of(staging)));
            return;
        }
        RemoteFiles files = target.files();
        if (files.exists(target.remote()) && !overwrite) {
            throw new DistilleryException(target + ": already exists (use --overwrite to replace it)");
        }
        Location staging = target.sibling("." + target.name() + ".partial");
        Location keyFile = staging.resolve(RESUME_KEY);
        if (files.exists(staging.remote()) && !(files.exists(keyFile.remote()) && readString(files, keyFile).equals(key))) {
            files.delete(staging.remote()); // another job's leftovers: nothing to resume from
        }
        files.mkdirs(staging.remote());
        Path local = Files.createTempFile("distillery-resume-key", "");
        try {
            Files.writeString(local, key + "\n");
            files.upload(local, keyFile.remote());
        } finally {
            Files.deleteIfExists(local);
        }
        content.writeInto(staging); // on failure the staging folder stays, for the next run to resume
        files.delete(keyFile.remote());
        publish(staging, target);
    }

    private static String readString(RemoteFiles files, Location file) throws IOException {
        try (java.io.InputStream in = files.open(file.remote())) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).strip();
        }
    }

    /** Where {@link #writeResumable} stages {@code target}. */
    public static Path resumableStaging(Path target) {
        Path abs = target.toAbsolutePath();
        return abs.getParent().resolve("." + abs.getFileName() + ".partial");
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }
}
