package org.distillery.prep;

/** Versions recorded in provenance. */
final class Versions {
    private Versions() {
    }

    static String distillery() {
        String v = PrepJob.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }
}
