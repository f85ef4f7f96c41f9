package org.distillery.core.io;

/** Names read from a file, as error messages show them. */
public final class Quoted {
    private Quoted() {
    }

    /** {@code name} quoted, control characters escaped and cut at 80: a crafted name cannot break an error's one line. */
    public static String of(String name) {
        StringBuilder b = new StringBuilder("'");
        for (int i = 0; i < name.length() && i < 80; i++) {
            char c = name.charAt(i);
            b.append(c >= 32 && c != 127 ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return b.append(name.length() > 80 ? "...'" : "'").toString();
    }
}
