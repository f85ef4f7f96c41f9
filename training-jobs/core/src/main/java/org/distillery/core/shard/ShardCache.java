package org.distillery.core.shard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.RemoteFiles;
import org.distillery.core.io.Sha256;

/**
 * Prep and teacher-logits outputs on another file system ({@code hdfs://}), copied once into a local cache for
 * the jobs that read them at random (training windows, teacher-logit windows). A copy is named by its manifest's
 * SHA-256 and appears only after every shard and the tokenizer were checked against that manifest, so a
 * copy in the cache is always whole and always the output it names.
 */
public final class ShardCache {
    private ShardCache() {
    }

    /**
     * The local copy of one shard file, by its SHA-256: for executors, which read only the shards of their
     * tasks. Fetched into {@code cacheRoot/<sha256>} through a temporary name, checked, then renamed, so a
     * file in the cache is always whole and always the content its name says.
     */
    public static Path file(Location shard, String sha256, Path cacheRoot) throws IOException {
        Path copy = cacheRoot.resolve(sha256);
        if (Files.isRegularFile(copy)) {
            return copy;
        }
        Files.createDirectories(cacheRoot);
        Path part = cacheRoot.resolve(".fetch-" + UUID.randomUUID());
        try {
            shard.files().download(shard.remote(), part);
            String got = Sha256.of(part);
            if (!got.equals(sha256)) {
                throw new DistilleryException(shard + ": SHA-256 is " + got + ", the manifest says " + sha256
                        + "; the prep output changed after its manifest was written: run prep again");
            }
            try {
                Files.move(part, copy, StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                // another task fetched it meanwhile
            }
            return copy;
        } finally {
            Files.deleteIfExists(part);
        }
    }

    /** The local copy of {@code prep}, fetched into {@code cacheRoot} unless it is there already. */
    public static Path fetch(Location prep, Path cacheRoot) throws IOException {
        return fetch(prep, ShardManifest.FILE_NAME, "prep", cacheRoot, copy -> {
            ShardManifest m = ShardManifest.read(copy);
            List<String> files = new ArrayList<>();
            files.add(m.tokenizer().file());
            m.splits().values().forEach(split -> split.shards().forEach(s -> files.add(s.file())));
            return files;
        }, copy -> ShardManifest.read(copy).verify(copy));
    }

    /** The local copy of a teacher-logits output, fetched into {@code cacheRoot} as {@link #fetch} does a prep. */
    public static Path fetchTeacherLogits(Location logits, Path cacheRoot) throws IOException {
        return fetch(logits, TeacherLogitsManifest.FILE_NAME, "teacher-logits", cacheRoot,
                copy -> TeacherLogitsManifest.read(copy).shards().stream().map(TeacherLogits.Shard::file).toList(),
                copy -> TeacherLogitsManifest.read(copy).verify(copy));
    }

    /**
     * The manifest of a remote {@code what} output ({@code prep}: {@link ShardManifest#FILE_NAME}) into the local
     * folder {@code into}; an error naming the folder and the command that writes one when it holds none.
     */
    public static void fetchManifest(Location folder, String manifestName, String what, Path into) throws IOException {
        Location manifestFile = folder.resolve(manifestName);
        if (!folder.files().exists(manifestFile.remote())) {
            throw new DistilleryException(folder + " holds no " + what + " output (no " + manifestName
                    + "): run distillery " + what + " with --out " + folder + " first");
        }
        folder.files().download(manifestFile.remote(), into.resolve(manifestName));
    }

    /** What a manifest in a folder lists, and its check of the files. */
    private interface Described {
        List<String> files(Path copy) throws IOException;
    }

    private interface Check {
        void verify(Path copy) throws IOException;
    }

    /**
     * A folder described by its manifest, copied to {@code cacheRoot/<manifest SHA-256>}: the manifest first,
     * then the files it lists, checked against it, then one rename.
     */
    private static Path fetch(Location folder, String manifestName, String what, Path cacheRoot, Described listing,
                              Check check) throws IOException {
        RemoteFiles files = folder.files();
        Files.createDirectories(cacheRoot);
        Path staging = cacheRoot.resolve(".fetch-" + UUID.randomUUID());
        try {
            Files.createDirectories(staging);
            fetchManifest(folder, manifestName, what, staging);
            Path copy = cacheRoot.resolve(Sha256.of(staging.resolve(manifestName)));
            if (Files.isDirectory(copy)) {
                return copy;
            }
            List<String> listed;
            try {
                listed = listing.files(staging); // names checked to stay inside the folder, here and there
            } catch (ShardFormatException e) {
                throw new DistilleryException(folder.resolve(manifestName) + ": " + e.problem(), e);
            }
            for (String f : listed) {
                files.download(folder.resolve(f).remote(), staging.resolve(f));
            }
            check.verify(staging);
            try {
                Files.move(staging, copy, StandardCopyOption.ATOMIC_MOVE);
            } catch (java.nio.file.FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
                // another job fetched the same output meanwhile: its copy is as good
            }
            return copy;
        } finally {
            Directories.deleteRecursively(staging);
        }
    }
}
