package org.distillery.prep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.security.PrivilegedExceptionAction;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.security.UserGroupInformation;
import org.distillery.core.io.AtomicDirectory;
import org.distillery.core.io.Location;
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
}
