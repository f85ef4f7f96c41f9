package org.distillery.core.shard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.UUID;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Location;
import org.distillery.core.io.RemoteFiles;
import org.distillery.core.io.Sha256;

/**
 * Prep outputs on another file system ({@code hdfs://}), copied once into a local cache for the jobs that
 * read shards at random (training windows, teacher-logit windows). A copy is named by its manifest's
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
        RemoteFiles files = prep.files();
        Location manifestFile = prep.resolve(ShardManifest.FILE_NAME);
        if (!files.exists(manifestFile.remote())) {
            throw new DistilleryException(prep + " holds no prep output (no " + ShardManifest.FILE_NAME
                    + "): run distillery prep with --out " + prep + " first");
        }
        Files.createDirectories(cacheRoot);
        Path staging = cacheRoot.resolve(".fetch-" + UUID.randomUUID());
        try {
            Files.createDirectories(staging);
            files.download(manifestFile.remote(), staging.resolve(ShardManifest.FILE_NAME));
            Path copy = cacheRoot.resolve(Sha256.of(staging.resolve(ShardManifest.FILE_NAME)));
            if (Files.isDirectory(copy)) {
                return copy;
            }
            ShardManifest m = ShardManifest.read(staging);
            files.download(prep.resolve(m.tokenizer().file()).remote(), staging.resolve(m.tokenizer().file()));
            for (ShardManifest.Split split : m.splits().values()) {
                for (TokenShardWriter.Summary s : split.shards()) {
                    files.download(prep.resolve(s.file()).remote(), staging.resolve(s.file()));
                }
            }
            m.verify(staging);
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
