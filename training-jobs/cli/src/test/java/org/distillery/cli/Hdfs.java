package org.distillery.cli;

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
final class Hdfs implements AutoCloseable {
    private final MiniDFSCluster cluster;

    Hdfs(Path dir) throws IOException {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.toAbsolutePath().toString());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.datanode.hostname", "127.0.0.1");
        conf.setBoolean("dfs.permissions.enabled", true);
        cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).nameNodePort(SparkDistribution.freePort()).build();
        cluster.waitActive();
    }

    /** hdfs://127.0.0.1:PORT */
    String uri() {
        return "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    }

    FileSystem fs() throws IOException {
        return cluster.getFileSystem();
    }

    @Override
    public void close() {
        cluster.shutdown(true);
    }
}
