package org.distillery.core.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** Folder operations the jobs share. */
public final class Directories {
    private Directories() {
    }

    /** Deletes {@code p} and everything under it; nothing happens if it does not exist. */
    public static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        List<Path> all;
        try (Stream<Path> s = Files.walk(p)) {
            all = s.sorted(Comparator.reverseOrder()).toList();
        }
        for (Path x : all) {
            Files.deleteIfExists(x);
        }
    }

    /** What {@link #staysInside} allows, said for errors. */
    public static final String INSIDE = "a relative path with no '..' or '.' part, empty part, '\\', ':' or control"
            + " character";

    /**
     * Whether {@code name}, a path read from a file (a manifest, a descriptor), names a file inside the folder it
     * is resolved against, on any file system: '/'-separated parts, none empty, {@code .} or {@code ..}, and no
     * {@code \} or {@code :}, which another system or a URI reads as a root, a drive or a scheme. No control
     * character either: no writer makes one, and a newline in a name would split the one line of every error
     * that later names the file.
     */
    public static boolean staysInside(String name) {
        if (name == null || name.isEmpty() || name.indexOf('\\') >= 0 || name.indexOf(':') >= 0
                || name.chars().anyMatch(c -> c < 32 || c == 127)) {
            return false;
        }
        for (String part : name.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return false;
            }
        }
        return true;
    }
}
