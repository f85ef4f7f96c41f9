package org.distillery.workbench;

import jakarta.inject.Singleton;
import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.distillery.workbench.core.engine.EngineSettings;
import org.eclipse.core.runtime.preferences.IEclipsePreferences;
import org.eclipse.core.runtime.preferences.InstanceScope;
import org.eclipse.e4.core.di.annotations.Creatable;
import org.osgi.service.prefs.BackingStoreException;

/**
 * The engine settings, kept as instance-scope preferences of this bundle (under the workbench's
 * {@code -data} folder), with defaults found from where the product is installed.
 */
@Creatable
@Singleton
public class WorkbenchSettings {
    static final String NODE = "org.distillery.workbench";

    public EngineSettings get() {
        IEclipsePreferences node = InstanceScope.INSTANCE.getNode(NODE);
        Map<String, String> stored = new LinkedHashMap<>();
        try {
            for (String key : node.keys()) {
                stored.put(key, node.get(key, ""));
            }
        } catch (BackingStoreException e) {
            throw new IllegalStateException("cannot read the workbench preferences: " + e.getMessage(), e);
        }
        return EngineSettings.fromMap(stored, defaults());
    }

    public void put(EngineSettings settings) {
        IEclipsePreferences node = InstanceScope.INSTANCE.getNode(NODE);
        settings.toMap().forEach(node::put);
        try {
            node.flush();
        } catch (BackingStoreException e) {
            throw new IllegalStateException("cannot save the workbench preferences: " + e.getMessage(), e);
        }
    }

    private static final String CLUSTERS = "org.distillery.workbench.clusters";

    /** The named Spark clusters the launch dialog offers. */
    public static java.util.List<org.distillery.workbench.core.engine.SparkCluster> clusters() {
        return org.distillery.workbench.core.engine.SparkCluster.read(InstanceScope.INSTANCE.getNode(CLUSTERS)
                .get("list", ""));
    }

    public static void putClusters(java.util.List<org.distillery.workbench.core.engine.SparkCluster> clusters) {
        IEclipsePreferences node = InstanceScope.INSTANCE.getNode(CLUSTERS);
        node.put("list", org.distillery.workbench.core.engine.SparkCluster.write(clusters));
        try {
            node.flush();
        } catch (BackingStoreException e) {
            throw new IllegalStateException("cannot save the clusters: " + e.getMessage(), e);
        }
    }

    /** The checkout the product was built in, found from the install area Equinox was started with. */
    public static EngineSettings defaults() {
        String area = System.getProperty("osgi.install.area");
        Path installed = null;
        if (area != null) {
            try {
                installed = Path.of(URI.create(area.replace(" ", "%20")));
            } catch (IllegalArgumentException e) {
                installed = null; // not a file: URL; fall back to DISTILLERY_HOME
            }
        }
        return EngineSettings.defaults(installed, System.getenv());
    }
}
