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
}
