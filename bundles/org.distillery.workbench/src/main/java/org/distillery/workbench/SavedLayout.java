package org.distillery.workbench;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.eclipse.core.runtime.FileLocator;
import org.eclipse.e4.ui.workbench.lifecycle.PostContextCreate;
import org.eclipse.osgi.service.datalocation.Location;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkUtil;

/**
 * The product's life cycle ({@code lifeCycleURI}): the workbench keeps its layout between sessions (e4 saves the
 * application model as {@code workbench.xmi} in the workspace, with each part's persisted state), but a layout
 * saved by another version of {@code Application.e4xmi} would hide the new version's views and commands. So,
 * before the model is loaded, a saved layout is discarded when the model it was made from has changed, as
 * {@code -clearPersistedState} would do on every start.
 */
public class SavedLayout {
    static final String MODEL = "Application.e4xmi";
    /** Where e4's {@code ResourceHandler} keeps the saved model, under the workspace. */
    static final Path SAVED = Path.of(".metadata", ".plugins", "org.eclipse.e4.workbench", "workbench.xmi");
    static final Path STAMP = Path.of(".metadata", ".plugins", "org.distillery.workbench", "application-model.sha256");

    @PostContextCreate
    void discardIfTheModelChanged() {
        Bundle bundle = FrameworkUtil.getBundle(SavedLayout.class);
        try {
            Location instance = bundle.getBundleContext().getService(bundle.getBundleContext()
                    .getServiceReferences(Location.class, Location.INSTANCE_FILTER).iterator().next());
            if (instance == null || instance.getURL() == null) {
                return; // no workspace (-data @none): nothing is saved
            }
            Path workspace = Path.of(FileLocator.toFileURL(instance.getURL()).toURI());
            String model;
            try (InputStream in = bundle.getEntry(MODEL).openStream()) {
                model = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(in.readAllBytes()));
            }
            Path stamp = workspace.resolve(STAMP);
            if (!model.equals(Files.exists(stamp) ? Files.readString(stamp).strip() : "")) {
                Files.deleteIfExists(workspace.resolve(SAVED));
                Files.createDirectories(stamp.getParent());
                Files.writeString(stamp, model + "\n");
            }
        } catch (IOException | URISyntaxException | NoSuchAlgorithmException
                 | org.osgi.framework.InvalidSyntaxException e) {
            // the saved layout stays as it is: e4 resets a model it cannot read by itself
            System.err.println("Distillery workbench: cannot compare the saved layout's model (" + e + ")");
        }
    }
}
