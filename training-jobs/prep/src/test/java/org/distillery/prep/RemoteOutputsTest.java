package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivilegedExceptionAction;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.security.UserGroupInformation;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.Location;
import org.distillery.core.shard.ShardCache;
import org.distillery.core.shard.ShardManifest;
import org.distillery.core.shard.TeacherLogits;
import org.distillery.core.shard.TeacherLogitsManifest;
import org.distillery.core.shard.TokenShardWriter;
import org.distillery.core.testing.Hdfs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Outputs on a real HDFS (NameNode and DataNode on 127.0.0.1) through {@link HadoopFiles}, the engine the jobs
 * use, failing the way HDFS really fails: permissions as another user ({@code dfs.permissions.enabled}).
 */
class RemoteOutputsTest {
    @TempDir
    static Path dir;
    static Hdfs hdfs;
    static FileSystem fs;

    @BeforeAll
    static void start() throws IOException {
        hdfs = new Hdfs(dir.resolve("hdfs"));
        fs = hdfs.fs();
    }

    @AfterAll
    static void stop() {
        if (hdfs != null) {
            hdfs.close();
        }
    }

    private static <T> T as(String user, PrivilegedExceptionAction<T> action) throws Exception {
        return UserGroupInformation.createRemoteUser(user).doAs(action);
    }

    private static void write(String user, String file, int b) throws Exception {
        as(user, () -> {
            try (FileSystem mine = FileSystem.newInstance(fs.getUri(), fs.getConf());
                 OutputStream out = mine.create(new org.apache.hadoop.fs.Path(file))) {
                out.write(b);
            }
            return null;
        });
    }

    private static int read(String file) throws IOException {
        try (InputStream in = fs.open(new org.apache.hadoop.fs.Path(file))) {
            return in.read();
        }
    }

    /**
     * bob overwrites his output in a shared sticky folder (as HDFS's /tmp is) from a staging folder that alice
     * wrote: HDFS lets him rename his old output aside but not alice's folder into its place. His old output
     * goes back under its name, whole.
     */
    @Test
    void aPublishWhoseRenameIntoPlaceFailsPutsTheOldOutputBack() throws Exception {
        org.apache.hadoop.fs.Path shared = new org.apache.hadoop.fs.Path("/shared");
        fs.mkdirs(shared);
        fs.setPermission(shared, new FsPermission((short) 01777));
        write("bob", "/shared/export/a.bin", 1);
        write("alice", "/shared/.export.partial/b.bin", 2);
        Location target = Location.parse(hdfs.uri() + "/shared/export", dir);
        Location staging = Location.parse(hdfs.uri() + "/shared/.export.partial", dir);

        Exception e = as("bob", () -> assertThrows(Exception.class, () -> AtomicDirectory.publish(staging, target)));
        assertEquals(List.of(".export.partial", "export"), hdfs.names("/shared"), "nothing left aside");
        assertEquals(List.of("a.bin"), hdfs.names("/shared/export"));
        assertEquals(1, read("/shared/export/a.bin"), "the old output, whole");
        assertTrue(e.getMessage().contains("permission denied"), e.getMessage());
    }

    private static void put(Path local, String remote) throws IOException {
        fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.toUri()), new org.apache.hadoop.fs.Path(remote));
    }

    /**
     * A prep or teacher-logits output on HDFS whose manifest names a file beside its folder: fetching it into the
     * local cache refuses the name, naming the remote manifest and the field, and fetches nothing from outside.
     */
    @Test
    void aFetchedManifestNamingAFileOutsideItsFolderIsRefused() throws Exception {
        Path local = Files.createDirectories(dir.resolve("manifests"));
        Files.writeString(local.resolve("secret.bin"), "not for the cache");
        put(local.resolve("secret.bin"), "/outputs/secret.bin"); // where ../secret.bin of /outputs/prep points
        put(local.resolve("secret.bin"), "/outputs/prep/tokenizer.json"); // what the manifest names inside, there
        new ShardManifest(ShardManifest.FORMAT, ShardManifest.VERSION, "test", "now",
                new ShardManifest.TokenizerRef("tokenizer.json", "a".repeat(64), 300), "uint16", 0, "x", List.of(), null,
                Map.of("train", new ShardManifest.Split(1, 2, List.of(
                        new TokenShardWriter.Summary("../secret.bin", "b".repeat(64), 2, 1, 34)))), Map.of())
                .write(local);
        new TeacherLogitsManifest(TeacherLogitsManifest.FORMAT, TeacherLogitsManifest.VERSION, "test", "now",
                "a".repeat(64), "b".repeat(64), "train", Map.of(), 4, 1.0f, 8, 300, 1,
                List.of(new TeacherLogits.Shard("/secret.bin", "c".repeat(64), 1, 100))).write(local);
        put(local.resolve(ShardManifest.FILE_NAME), "/outputs/prep/" + ShardManifest.FILE_NAME);
        put(local.resolve(TeacherLogitsManifest.FILE_NAME), "/outputs/logits/" + TeacherLogitsManifest.FILE_NAME);
        Path cache = dir.resolve("cache");

        DistilleryException e = assertThrows(DistilleryException.class,
                () -> ShardCache.fetch(Location.parse(hdfs.uri() + "/outputs/prep", dir), cache));
        assertTrue(e.getMessage().startsWith(hdfs.uri() + "/outputs/prep/manifest.json: splits.train.shards[0].file is"
                + " '../secret.bin', expected a file name inside the manifest's folder"), e.getMessage());
        e = assertThrows(DistilleryException.class,
                () -> ShardCache.fetchTeacherLogits(Location.parse(hdfs.uri() + "/outputs/logits", dir), cache));
        assertTrue(e.getMessage().startsWith(hdfs.uri() + "/outputs/logits/teacher-logits.json: shards[0].file is"
                + " '/secret.bin', expected a file name inside the manifest's folder"), e.getMessage());
        try (var left = Files.list(cache)) {
            assertEquals(List.of(), left.toList(), "nothing fetched, no staging left");
        }
    }
}
