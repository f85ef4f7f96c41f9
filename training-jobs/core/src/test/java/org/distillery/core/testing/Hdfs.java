package org.distillery.core.testing;

import java.io.IOException;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS for tests: a NameNode and a DataNode on 127.0.0.1 (Hadoop's shaded minicluster, beside the
 * hadoop-client-api/-runtime jars Spark uses), reachable from other processes (Spark's executors, the
 * distillery command) at {@link #uri()}.
 */
public final class Hdfs implements AutoCloseable {
    private final MiniDFSCluster cluster;

    public Hdfs(Path dir) throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.toAbsolutePath().toString());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.datanode.hostname", "127.0.0.1");
        conf.setBoolean("dfs.permissions.enabled", true);
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).nameNodePort(SparkDistribution.freePort()).build();
        cluster.waitActive();
    }

    /** hdfs://127.0.0.1:PORT */
    public String uri() {
        return "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    }

    public FileSystem fs() throws IOException {
        return cluster.getFileSystem();
    }

    /** The names in a folder, sorted; none when it does not exist. */
    public java.util.List<String> names(String folder) throws IOException {
        java.util.List<String> out = new java.util.ArrayList<>();
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(folder);
        if (fs().exists(p)) {
            for (org.apache.hadoop.fs.FileStatus f : fs().listStatus(p)) {
                out.add(f.getPath().getName());
            }
        }
        out.sort(null);
        return out;
    }

    @Override
    public void close() {
        cluster.shutdown(true);
    }
}
