package org.distillery.core.shard;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

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
}
