package org.distillery.core.spec;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;

/**
 * Reads a YAML spec into its record type and validates it, so that every problem comes back as
 * {@code file:line: field: what was expected}: YAML syntax errors, unknown or mistyped fields (with
 * the allowed names), wrong value types, and the spec's own {@link Spec#validate} checks.
 */
public final class SpecReader {
    public static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);

    private SpecReader() {
    }

    /** A spec with the line of each of its fields, for checks that can only run once the job opens its data. */
    public record Located<T extends Spec>(T spec, String source, Map<String, Integer> lines) {
        /** An error at {@code path}, shaped like every other spec problem. */
        public SpecException error(String path, String message) {
            return new SpecException(List.of(source + ":" + lineOf(lines, path) + ": " + path + " " + message));
        }
    }

    public static <T extends Spec> Located<T> readLocated(Path file, Class<T> type) {
        T spec = read(file, type);
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read spec file: " + e.getMessage(), e);
        }
        return new Located<>(spec, file.toString(), fieldLines(text, file.toString()));
    }

    public static <T extends Spec> T read(Path file, Class<T> type) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": spec file not found");
        } catch (AccessDeniedException e) {
            throw new DistilleryException(file + ": spec file is not readable (permission denied)");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read spec file: " + e.getMessage(), e);
        }
        return parse(text, file.toString(), type);
    }

    /** Parses spec text; {@code source} names it in messages. */
    public static <T extends Spec> T parse(String text, String source, Class<T> type) {
        if (text.lines().allMatch(l -> l.isBlank() || l.strip().startsWith("#"))) {
            throw new SpecException(List.of(source + ":1: the spec is empty"));
        }
        Map<String, Integer> lines = fieldLines(text, source);
        T spec;
        try {
            spec = YAML.readValue(text, type);
        } catch (UnrecognizedPropertyException e) {
            String field = e.getPropertyName();
            List<String> allowed = e.getKnownPropertyIds().stream().map(Object::toString).sorted().toList();
            String parent = path(e.getPath().subList(0, e.getPath().size() - 1));
            String where = parent.isEmpty() ? "at the top level" : "in '" + parent + "'";
            String hint = closest(field, allowed).map(s -> " (did you mean '" + s + "'?)").orElse("");
            String full = parent.isEmpty() ? field : parent + "." + field;
            String at = lines.containsKey(full) ? source + ":" + lines.get(full) : at(source, e.getLocation());
            throw new SpecException(List.of(at + ": unknown field '" + field + "' " + where
                    + hint + "; allowed: " + String.join(", ", allowed)));
        } catch (InvalidFormatException e) {
            String expected = e.getTargetType().isEnum()
                    ? "one of " + Arrays.stream(e.getTargetType().getEnumConstants()).map(Object::toString).toList()
                    : describe(e.getTargetType());
            throw new SpecException(List.of(at(source, e.getLocation()) + ": field '" + path(e.getPath()) + "' must be "
                    + expected + ", found '" + e.getValue() + "'"));
        } catch (MismatchedInputException e) {
            String field = path(e.getPath());
            String what = e.getTargetType() == null ? "a different value" : describe(e.getTargetType());
            throw new SpecException(List.of(at(source, e.getLocation()) + ": "
                    + (field.isEmpty() ? "the spec" : "field '" + field + "'") + " must be " + what));
        } catch (JsonMappingException e) {
            throw new SpecException(List.of(at(source, e.getLocation()) + ": field '" + path(e.getPath()) + "': "
                    + e.getOriginalMessage()));
        } catch (JacksonException e) {
            throw new SpecException(List.of(at(source, e.getLocation()) + ": " + e.getOriginalMessage()));
        }
        if (spec == null) {
            throw new SpecException(List.of(source + ":1: the spec is empty"));
        }
        Validation v = new Validation();
        spec.validate(v);
        if (!v.problems().isEmpty()) {
            List<String> msgs = new ArrayList<>();
            for (Validation.Problem p : v.problems()) {
                msgs.add(source + ":" + lineOf(lines, p.path()) + ": " + p.path() + " " + p.message());
            }
            throw new SpecException(msgs);
        }
        return spec;
    }

    /** The line of a field, or of its closest parent that appears in the file. */
    private static int lineOf(Map<String, Integer> lines, String path) {
        String p = path;
        while (!p.isEmpty()) {
            Integer line = lines.get(p);
            if (line != null) {
                return line;
            }
            int cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
            p = cut < 0 ? "" : p.substring(0, cut);
        }
        return 1;
    }

    /** Walks the YAML once to record the line of every field and list element, by dotted path. */
    private static Map<String, Integer> fieldLines(String text, String source) {
        Map<String, Integer> lines = new HashMap<>();
        try (JsonParser p = YAML.getFactory().createParser(text)) {
            Deque<Frame> stack = new ArrayDeque<>();
            String pendingField = null;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                Frame top = stack.peek();
                if (t == JsonToken.FIELD_NAME) {
                    pendingField = top == null || top.path.isEmpty() ? p.currentName() : top.path + "." + p.currentName();
                    lines.putIfAbsent(pendingField, p.currentTokenLocation().getLineNr());
                    continue;
                }
                if (t == JsonToken.END_OBJECT || t == JsonToken.END_ARRAY) {
                    stack.pop();
                    continue;
                }
                String here = pendingField;
                if (top != null && top.array) {
                    here = top.path + "[" + top.index++ + "]";
                    lines.putIfAbsent(here, p.currentTokenLocation().getLineNr());
                }
                pendingField = null;
                if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
                    stack.push(new Frame(here == null ? "" : here, t == JsonToken.START_ARRAY));
                }
            }
        } catch (JacksonException e) {
            throw new SpecException(List.of(at(source, e.getLocation()) + ": YAML syntax error: "
                    + e.getOriginalMessage().lines().findFirst().orElse("").trim()));
        } catch (IOException e) {
            throw new DistilleryException(source + ": cannot read: " + e.getMessage(), e);
        }
        return lines;
    }

    /** An open mapping or list while walking the YAML. */
    private static final class Frame {
        final String path;
        final boolean array;
        int index;

        Frame(String path, boolean array) {
            this.path = path;
            this.array = array;
        }
    }

    private static String at(String source, JsonLocation loc) {
        return loc == null || loc.getLineNr() < 1 ? source : source + ":" + loc.getLineNr();
    }

    private static String path(List<JsonMappingException.Reference> refs) {
        StringBuilder s = new StringBuilder();
        for (JsonMappingException.Reference r : refs) {
            if (r.getFieldName() != null) {
                if (!s.isEmpty()) {
                    s.append('.');
                }
                s.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                s.append('[').append(r.getIndex()).append(']');
            }
        }
        return s.toString();
    }

    private static String describe(Class<?> type) {
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (type == Double.class || type == double.class || type == Float.class) {
            return "a number";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (List.class.isAssignableFrom(type)) {
            return "a list";
        }
        return "a mapping of fields (" + type.getSimpleName() + ")";
    }

    /** The name in {@code allowed} a misspelt {@code field} most likely meant (a few edits away), if any. */
    public static java.util.Optional<String> closest(String field, List<String> allowed) {
        return allowed.stream()
                .map(a -> Map.entry(a, editDistance(field, a)))
                .filter(e -> e.getValue() <= Math.max(2, field.length() / 3))
                .min(Comparator.comparingInt(Map.Entry::getValue))
                .map(Map.Entry::getKey);
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
