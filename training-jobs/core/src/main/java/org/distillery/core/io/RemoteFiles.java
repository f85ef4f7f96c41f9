package org.distillery.core.io;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import org.distillery.core.DistilleryException;

/**
 * Files behind a URI of a file system other than the local one ({@code hdfs://}, {@code s3a://}, ...). An
 * engine is found at run time by the URI's scheme (the Hadoop {@code FileSystem} API, registered by the
 * Spark side of Distillery), so this module needs none of it. Jobs write locally, then publish; they read
 * remote inputs by downloading them into a local cache. Errors name the URI.
 */
public interface RemoteFiles {
    /** Whether this engine reaches {@code uri}'s scheme. */
    boolean handles(URI uri);

    boolean exists(URI uri) throws IOException;

    boolean isDirectory(URI uri) throws IOException;

    /** The regular files under {@code dir}, recursively, sorted, hidden ones ({@code .} or {@code _}) left out. */
    List<URI> listFiles(URI dir) throws IOException;

    long length(URI file) throws IOException;

    InputStream open(URI file) throws IOException;

    /** Copies a local file to {@code target}, replacing it; the parent folders are made. */
    void upload(Path local, URI target) throws IOException;

    /**
     * Copies a finished local file to {@code target} so that the target name only ever holds a whole file:
     * uploaded as {@code temporary}, then renamed over any old target. A failed upload leaves no temporary.
     */
    default void put(Path local, URI target, URI temporary) throws IOException {
        try {
            upload(local, temporary);
            if (exists(target)) {
                delete(target);
            }
            rename(temporary, target);
        } catch (IOException | RuntimeException e) {
            try {
                delete(temporary);
            } catch (IOException | RuntimeException ignored) {
                // the upload's own failure is the one to report
            }
            throw e;
        }
    }

    /** Copies {@code file} to a local path. */
    void download(URI file, Path local) throws IOException;

    /** Renames; on HDFS a folder's rename is one atomic metadata operation. */
    void rename(URI from, URI to) throws IOException;

    void delete(URI uri) throws IOException;

    void mkdirs(URI dir) throws IOException;

    /** The engine for {@code uri}, or an error naming the URI and what is missing. */
    static RemoteFiles of(URI uri) {
        for (RemoteFiles f : ServiceLoader.load(RemoteFiles.class, RemoteFiles.class.getClassLoader())) {
            if (f.handles(uri)) {
                return f;
            }
        }
        throw new DistilleryException(uri + ": no file system for '" + uri.getScheme() + "' URIs here; they are read"
                + " through Hadoop's FileSystem API, which the Spark jobs bring (for s3a:// add hadoop-aws)");
    }
}
