package org.distillery.core.io;

import java.net.URI;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.distillery.core.DistilleryException;

/**
 * Where a job reads or writes: a local path, or a folder or file on another file system, named by a URI
 * ({@code hdfs://namenode:8020/prep/run1}, {@code s3a://bucket/prep}) and reached through {@link RemoteFiles}.
 * {@code file:} URIs are local paths. Exactly one of {@code local} and {@code remote} is set.
 */
public record Location(Path local, URI remote) {
    private static final Pattern SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]+:/.*");

    public Location {
        if ((local == null) == (remote == null)) {
            throw new IllegalArgumentException("a location is a local path or a remote URI");
        }
    }

    public static Location of(Path local) {
        return new Location(local.toAbsolutePath().normalize(), null);
    }

    /**
     * Reads {@code text} as a URI with a scheme (other than {@code file:}) or as a path, relative to
     * {@code base} when it is relative. ({@code C:/...} is no concern here: the scheme needs two letters.)
     */
    public static Location parse(String text, Path base) {
        if (SCHEME.matcher(text).matches()) {
            URI uri;
            try {
                uri = URI.create(text);
            } catch (IllegalArgumentException e) {
                throw new DistilleryException(text + ": not a valid URI: " + e.getMessage());
            }
            if ("file".equals(uri.getScheme())) {
                return of(Path.of(uri));
            }
            return new Location(null, uri.normalize());
        }
        return of(base.resolve(text));
    }

    public boolean isRemote() {
        return remote != null;
    }

    /** The last name of the path. */
    public String name() {
        if (local != null) {
            return local.getFileName().toString();
        }
        String p = remote.getPath();
        p = p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
        return p.substring(p.lastIndexOf('/') + 1);
    }

    /** {@code name} inside this folder. */
    public Location resolve(String name) {
        if (local != null) {
            return of(local.resolve(name));
        }
        String p = remote.getPath();
        return new Location(null, remote.resolve((p.endsWith("/") ? "" : p.substring(p.lastIndexOf('/') + 1) + "/")
                + name));
    }

    /** {@code name} beside this location, in the same folder. */
    public Location sibling(String name) {
        if (local != null) {
            return of(local.resolveSibling(name));
        }
        return new Location(null, remote.resolve(name));
    }

    /** The engine that reaches a remote location. */
    public RemoteFiles files() {
        return RemoteFiles.of(remote);
    }

    @Override
    public String toString() {
        return local != null ? local.toString() : remote.toString();
    }
}
