package org.distillery.prep;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.security.AccessControlException;
import org.apache.spark.SparkEnv;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.RemoteFiles;
import scala.Tuple2;

/**
 * {@link RemoteFiles} through the Hadoop {@code FileSystem} API that Spark brings: {@code hdfs://}, and
 * {@code s3a://} or {@code gs://} where their connectors are on the class path. The Hadoop configuration
 * is the one a Spark job sees: {@code HADOOP_CONF_DIR}'s files, then every {@code spark.hadoop.*} setting
 * of the running Spark application (on the driver and on executors alike). Hadoop's own errors are turned
 * into ones that name the URI: a NameNode that does not answer, a missing file, a denied permission.
 */
public final class HadoopFiles implements RemoteFiles {
    @Override
    public boolean handles(URI uri) {
        String scheme = uri.getScheme();
        if (scheme == null || scheme.equals("file")) {
            return false;
        }
        try {
            FileSystem.getFileSystemClass(scheme, configuration());
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The Hadoop configuration of this Spark application, or of the environment outside one. */
    static Configuration configuration() {
        Configuration conf = new Configuration();
        SparkEnv env = SparkEnv.get();
        if (env != null) {
            for (Tuple2<String, String> kv : env.conf().getAll()) {
                if (kv._1().startsWith("spark.hadoop.")) {
                    conf.set(kv._1().substring("spark.hadoop.".length()), kv._2());
                }
            }
        }
        // Fail in seconds when no NameNode answers, rather than after Hadoop's default 45 retries.
        conf.setIfUnset("ipc.client.connect.max.retries", "2");
        conf.setIfUnset("ipc.client.connect.max.retries.on.timeouts", "2");
        conf.setIfUnset("ipc.client.connect.timeout", "5000");
        return conf;
    }

    private static FileSystem fs(URI uri) throws IOException {
        return FileSystem.get(uri, configuration());
    }

    private static org.apache.hadoop.fs.Path path(URI uri) {
        return new org.apache.hadoop.fs.Path(uri);
    }

    @FunctionalInterface
    private interface Call<T> {
        T run() throws IOException;
    }

    /** Runs a file system call; errors name the URI and what went wrong in words. */
    private static <T> T call(URI uri, String what, Call<T> call) throws IOException {
        try {
            return call.run();
        } catch (FileNotFoundException e) {
            throw new DistilleryException(uri + ": no such file or folder (" + what + ")", e);
        } catch (AccessControlException e) {
            throw new DistilleryException(uri + ": permission denied (" + what + "): " + firstLine(e), e);
        } catch (ConnectException e) {
            throw new DistilleryException(uri + ": no file system answers at " + uri.getAuthority() + " (" + what + "): "
                    + firstLine(e), e);
        } catch (IOException e) {
            if (e.getCause() instanceof ConnectException || String.valueOf(e.getMessage()).contains("Connection refused")) {
                throw new DistilleryException(uri + ": no file system answers at " + uri.getAuthority() + " (" + what
                        + "): " + firstLine(e), e);
            }
            throw new IOException(uri + ": " + what + " failed: " + firstLine(e), e);
        }
    }

    private static String firstLine(Exception e) {
        String m = String.valueOf(e.getMessage());
        return m.lines().findFirst().orElse(m);
    }

    @Override
    public boolean exists(URI uri) throws IOException {
        return call(uri, "exists", () -> fs(uri).exists(path(uri)));
    }

    @Override
    public boolean isDirectory(URI uri) throws IOException {
        return call(uri, "stat", () -> {
            FileSystem fs = fs(uri);
            return fs.exists(path(uri)) && fs.getFileStatus(path(uri)).isDirectory();
        });
    }

    @Override
    public List<URI> listFiles(URI dir) throws IOException {
        return call(dir, "list", () -> {
            FileSystem fs = fs(dir);
            FileStatus top = fs.getFileStatus(path(dir));
            List<URI> out = new ArrayList<>();
            if (top.isFile()) {
                out.add(top.getPath().toUri());
                return out;
            }
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(path(dir), true);
            String root = top.getPath().toUri().getPath();
            while (it.hasNext()) {
                LocatedFileStatus f = it.next();
                String rel = f.getPath().toUri().getPath().substring(root.length());
                boolean hidden = false;
                for (String part : rel.split("/")) {
                    hidden |= part.startsWith(".") || part.startsWith("_");
                }
                if (!hidden) {
                    out.add(f.getPath().toUri());
                }
            }
            out.sort(null);
            return out;
        });
    }

    @Override
    public long length(URI file) throws IOException {
        return call(file, "stat", () -> fs(file).getFileStatus(path(file)).getLen());
    }

    @Override
    public InputStream open(URI file) throws IOException {
        return call(file, "read", () -> fs(file).open(path(file)));
    }

    @Override
    public void upload(Path local, URI target) throws IOException {
        call(target, "write", () -> {
            fs(target).copyFromLocalFile(false, true, new org.apache.hadoop.fs.Path(local.toUri()), path(target));
            return null;
        });
    }

    @Override
    public void download(URI file, Path local) throws IOException {
        call(file, "read", () -> {
            fs(file).copyToLocalFile(false, path(file), new org.apache.hadoop.fs.Path(local.toUri()), true);
            return null;
        });
    }

    @Override
    public void rename(URI from, URI to) throws IOException {
        call(from, "rename to " + to, () -> {
            if (!fs(from).rename(path(from), path(to))) {
                throw new IOException("the file system refused to rename it to " + to);
            }
            return null;
        });
    }

    @Override
    public void delete(URI uri) throws IOException {
        call(uri, "delete", () -> fs(uri).delete(path(uri), true));
    }

    @Override
    public void mkdirs(URI dir) throws IOException {
        call(dir, "mkdir", () -> {
            if (!fs(dir).mkdirs(path(dir))) {
                throw new IOException("the file system refused to make the folder");
            }
            return null;
        });
    }
}
