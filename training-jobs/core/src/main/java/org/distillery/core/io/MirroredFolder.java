package org.distillery.core.io;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A local working folder for a job whose output lives on another file system ({@code hdfs://}): the job
 * writes here as it would anywhere, and each finished file is copied to the same relative path under the
 * remote folder, through a hidden temporary name and one rename, so the remote folder never holds half a
 * file under a final name. A resumed job first pulls the files it continues from.
 */
public final class MirroredFolder {
    private final Location remote;
    private final Path local;

    public MirroredFolder(Location remote, Path local) {
        if (!remote.isRemote()) {
            throw new IllegalArgumentException(remote + " is local");
        }
        this.remote = remote;
        this.local = local.toAbsolutePath().normalize();
    }

    public Path local() {
        return local;
    }

    public Location remote() {
        return remote;
    }

    /** The remote location of a file of the local folder. */
    public Location remoteOf(Path file) {
        Location l = remote;
        for (Path part : local.relativize(file.toAbsolutePath().normalize())) {
            l = l.resolve(part.toString());
        }
        return l;
    }

    /** The names of the files in a remote subfolder ({@code ""} for the folder itself), sorted; none if it is absent. */
    public List<String> list(String subfolder) throws IOException {
        Location dir = subfolder.isEmpty() ? remote : remote.resolve(subfolder);
        RemoteFiles files = remote.files();
        List<String> names = new ArrayList<>();
        if (!files.isDirectory(dir.remote())) {
            return names;
        }
        String prefix = dir.remote().getPath().endsWith("/") ? dir.remote().getPath() : dir.remote().getPath() + "/";
        for (URI f : files.listFiles(dir.remote())) {
            String rel = f.getPath().substring(f.getPath().indexOf(prefix) + prefix.length());
            if (!rel.contains("/")) {
                names.add(rel);
            }
        }
        return names;
    }

    /** Downloads a remote file to the same relative path here (through a temporary name). */
    public Path pull(String relative) throws IOException {
        Path target = local.resolve(relative);
        Files.createDirectories(target.getParent());
        Path tmp = AtomicFile.temporaryFor(target.getParent(), target);
        try {
            Location from = remote;
            for (String part : relative.split("/")) {
                from = from.resolve(part);
            }
            remote.files().download(from.remote(), tmp);
            Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }

    /** Copies a finished local file to its remote place: a hidden temporary name, then one rename. */
    public void push(Path file) throws IOException {
        Location target = remoteOf(file);
        Location tmp = target.sibling("." + target.name() + ".uploading-" + UUID.randomUUID());
        remote.files().put(file, target.remote(), tmp.remote());
    }

    /** Removes a file's remote copy (the job removed the local one). */
    public void remove(Path file) throws IOException {
        remote.files().delete(remoteOf(file).remote());
    }
}
