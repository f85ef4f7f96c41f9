package org.distillery.core.io;

import java.util.Locale;

/** Sizes as people read them, in binary units: {@code 412.0 KiB}, {@code 1.3 GiB}. */
public final class ByteSize {
    private ByteSize() {
    }

    public static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        do {
            v /= 1024;
            u++;
        } while (v >= 1024 && u < units.length - 1);
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
