package org.distillery.core.shard;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.distillery.core.io.Directories;
import org.distillery.core.io.Quoted;

/** A JSON manifest with a format name and a version, both checked when it is read. */
interface VersionedManifest {
    String format();

    int version();

    /**
     * Reads a manifest of {@code type} and checks its format and version; errors name the file, say
     * what a missing file means ({@code missing}) and what it should have been ({@code what}).
     */
    static <T extends VersionedManifest> T read(Path file, Class<T> type, String format, int version, String missing,
                                                String what) throws IOException {
        T m;
        try {
            m = ShardManifest.JSON.readValue(file.toFile(), type);
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ShardFormatException(file, "does not exist: " + missing);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new ShardFormatException(file, "is not " + what + ": " + e.getOriginalMessage());
        }
        if (!format.equals(m.format())) {
            throw new ShardFormatException(file, "has format '" + m.format() + "', expected '" + format + "'");
        }
        if (m.version() != version) {
            throw new ShardFormatException(file, "has version " + m.version() + ", this Distillery reads version "
                    + version);
        }
        return m;
    }

    /**
     * Checks that {@code name}, which {@code field} of the manifest {@code file} gives, names a file inside the
     * manifest's folder: a manifest from elsewhere must not make a reader resolve a path outside it.
     */
    static void requireInside(Path file, String field, String name) {
        if (!Directories.staysInside(name)) {
            throw new ShardFormatException(file, field + " is " + (name == null ? "missing" : Quoted.of(name))
                    + ", expected a file name inside the manifest's folder (" + Directories.INSIDE + ")");
        }
    }
}
