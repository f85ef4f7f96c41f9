package org.distillery.core.io;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * An I/O failure said the way a user reads it: the file, then what happened in plain words (no space left
 * on device, permission denied, read-only file system), with what was needed and what is free where that
 * is known. Java's own exceptions often name no file ({@code IOException: No space left on device}) or
 * bury it in a stack trace; writers wrap theirs in this at the point where they know the file.
 */
public final class FileAccessException extends IOException {
    private static final String NO_SPACE = "no space left on device";

    private final transient Path file;

    private FileAccessException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /** {@code cause}, a failure to read or write {@code file}, in plain words (itself if it already is one). */
    public static FileAccessException of(Path file, IOException cause) {
        if (cause instanceof FileAccessException f) {
            return f;
        }
        if (cause instanceof FileSystemException f && f.getFile() != null) {
            Path named = Path.of(f.getFile());
            if (!named.equals(file) && !AtomicFile.isTemporaryOf(named, file)) {
                file = named; // another file failed (a source being copied, a folder being made): name that one
            }
        }
        String problem = problem(cause);
        if (problem.equals(NO_SPACE)) {
            long free = usableSpace(file);
            if (free >= 0) {
                problem += " (" + ByteSize.human(free) + " free)";
            }
        }
        return new FileAccessException(file, problem, cause);
    }

    /**
     * Refuses up front a write of {@code needed} bytes to {@code file} that its file system has no room for,
     * so that a long write does not fail at its end: the error says what was needed and what is free.
     */
    public static void requireSpace(Path file, long needed) throws FileAccessException {
        long free = usableSpace(file);
        if (free >= 0 && free < needed) {
            throw new FileAccessException(file, NO_SPACE + " (needs " + ByteSize.human(needed) + ", "
                    + ByteSize.human(free) + " free)", null);
        }
    }

    /** An I/O failure in plain words, with the file where the exception names one. */
    public static String describe(IOException e) {
        if (e instanceof FileAccessException) {
            return e.getMessage();
        }
        if (e instanceof FileSystemException f && f.getFile() != null) {
            return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + problem(e);
        }
        return problem(e);
    }

    /** What went wrong, without the file: {@code permission denied}, {@code no space left on device}, ... */
    static String problem(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NoSuchFileException) {
            return "does not exist";
        }
        if (e instanceof FileAlreadyExistsException) {
            return "already exists";
        }
        String m = e instanceof FileSystemException f ? f.getReason() : e.getMessage();
        if (m == null || m.isBlank()) {
            return e.getClass().getSimpleName();
        }
        String lower = m.toLowerCase(Locale.ROOT);
        if (lower.contains("no space left on device") || lower.contains("disk quota exceeded")) {
            return NO_SPACE;
        }
        if (lower.contains("read-only file system")) {
            return "read-only file system";
        }
        if (lower.contains("permission denied") || lower.contains("operation not permitted")) {
            return "permission denied";
        }
        return Character.toLowerCase(m.charAt(0)) + m.substring(1);
    }

    /** Free bytes for a file at {@code file} (on the nearest folder that exists), or -1 when not known. */
    private static long usableSpace(Path file) {
        for (Path p = file.toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p)) {
                try {
                    return Files.getFileStore(p).getUsableSpace();
                } catch (IOException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
