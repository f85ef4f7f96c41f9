package org.distillery.workbench.core.runs;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Tells when a local run store changes on disk, whoever writes it (a job launched here, the CLI, another
 * workbench): a run created, its description or metrics written. The file system notifies a
 * {@link WatchService} on the store's folder, its experiments' and its runs' folders; one daemon thread
 * waits on it. {@code changed} runs on that thread, once per batch of notifications, with the paths that
 * changed relative to the store ({@code <experiment>/<run id>/metrics.jsonl}).
 */
public final class RunStoreWatch implements AutoCloseable {
    /** The store's folder is depth 0, an experiment's 1, a run's 2. */
    private static final int RUN_DEPTH = 2;

    private final Path root;
    private final WatchService watch;
    private final Map<WatchKey, Integer> depths = new HashMap<>();
    private final Thread thread;

    private RunStoreWatch(Path root, Consumer<List<Path>> changed) throws IOException {
        this.root = root;
        this.watch = root.getFileSystem().newWatchService();
        register(root, 0);
        this.thread = new Thread(() -> loop(changed), "distillery-runs-watch");
        thread.setDaemon(true);
        thread.start();
    }

    /** Watches {@code root} (created if missing, as the engine would create it) until closed. */
    public static RunStoreWatch start(Path root, Consumer<List<Path>> changed) throws IOException {
        Files.createDirectories(root);
        return new RunStoreWatch(root, changed);
    }

    public Path root() {
        return root;
    }

    private void register(Path dir, int depth) throws IOException {
        WatchKey key = dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
        synchronized (depths) {
            depths.put(key, depth);
        }
        if (depth < RUN_DEPTH) {
            try (Stream<Path> children = Files.list(dir)) {
                for (Path c : children.filter(Files::isDirectory).toList()) {
                    register(c, depth + 1);
                }
            }
        }
    }

    private void loop(Consumer<List<Path>> changed) {
        try {
            while (true) {
                WatchKey key = watch.take();
                Integer depth;
                synchronized (depths) {
                    depth = depths.get(key);
                }
                List<Path> paths = new ArrayList<>();
                for (WatchEvent<?> e : key.pollEvents()) {
                    if (e.kind() == StandardWatchEventKinds.OVERFLOW) {
                        paths.add(Path.of(""));
                        // events were dropped, maybe a new folder's creation among them: watch what it holds now
                        if (depth != null && depth < RUN_DEPTH) {
                            watchFolder((Path) key.watchable(), depth, paths);
                        }
                        continue;
                    }
                    Path child = ((Path) key.watchable()).resolve((Path) e.context());
                    paths.add(root.relativize(child));
                    // A new experiment or run folder: watch it too, and what it already holds.
                    if (depth != null && depth < RUN_DEPTH && e.kind() == StandardWatchEventKinds.ENTRY_CREATE
                            && Files.isDirectory(child)) {
                        watchFolder(child, depth + 1, paths);
                    }
                }
                if (!key.reset()) {
                    synchronized (depths) {
                        depths.remove(key);
                    }
                }
                if (!paths.isEmpty()) {
                    changed.accept(paths);
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closed
        }
    }

    /**
     * Watches {@code dir} (at {@code depth}) and the folders under it, and adds all it holds to {@code paths}: what
     * was written before the watch on it began.
     */
    private void watchFolder(Path dir, int depth, List<Path> paths) {
        try {
            register(dir, depth);
            try (Stream<Path> inside = Files.walk(dir, RUN_DEPTH + 1 - depth)) {
                inside.forEach(f -> paths.add(root.relativize(f)));
            }
        } catch (IOException | java.io.UncheckedIOException ignored) {
            // gone again, or unreadable: the next listing of the store says so
        }
    }

    @Override
    public void close() {
        try {
            watch.close();
        } catch (IOException e) {
            // nothing left to release
        }
    }
}
