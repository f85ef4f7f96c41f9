package org.distillery.core.spec;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

    /**
     * A spec with the line of each of its fields, for checks that can only run once the job opens its data, and the
     * {@code --set} overrides it was read with (path to {@code --set path=value}), which problems name instead.
     */
    public record Located<T extends Spec>(T spec, String source, Map<String, Integer> lines,
                                          Map<String, String> overrides) {
        public Located(T spec, String source, Map<String, Integer> lines) {
            this(spec, source, lines, Map.of());
        }

        /** An error at {@code path}, shaped like every other spec problem. */
        public SpecException error(String path, String message) {
            return new SpecException(List.of(where(path) + ": " + path + " " + message));
        }

        /** The line of the field at {@code path} ({@code sources[0].path}), or of its closest parent in the file. */
        public int line(String path) {
            return lineOf(lines, path);
        }

        /** Where a problem at {@code path} comes from: {@code file:line}, or the {@code --set} that gave the value. */
        public String where(String path) {
            return origin().where(path);
        }

        public Origin origin() {
            return new Origin(source, lines, overrides);
        }
    }

    /**
     * Where a spec's text comes from, before (or without) a spec bound from it: its source, the line of each field,
     * and the {@code --set} overrides (path to option), which name the place of a problem instead of the file.
     */
    public record Origin(String source, Map<String, Integer> lines, Map<String, String> overrides) {
        /** Where a problem at {@code path} comes from: {@code file:line}, or the {@code --set} that gave the value. */
        public String where(String path) {
            for (Map.Entry<String, String> o : overrides.entrySet()) {
                if (path.equals(o.getKey()) || path.startsWith(o.getKey() + ".") || path.startsWith(o.getKey() + "[")) {
                    return o.getValue();
                }
            }
            return source + ":" + lineOf(lines, path);
        }
    }

    public static <T extends Spec> Located<T> readLocated(Path file, Class<T> type) {
        return readLocated(file, type, List.of());
    }

    /**
     * Reads {@code file} with {@code overrides} applied ({@code training.steps=20}, {@code sources[0].path=x}: a
     * dotted path to a field, a YAML value), each checked as the file is; problems with an overridden value name its
     * {@code --set}.
     */
    public static <T extends Spec> Located<T> readLocated(Path file, Class<T> type, List<String> overrides) {
        return parseLocated(readText(file), file.toString(), type, overrides);
    }

    public static <T extends Spec> T read(Path file, Class<T> type) {
        return parseLocated(readText(file), file.toString(), type, List.of()).spec();
    }

    private static String readText(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": spec file not found");
        } catch (AccessDeniedException e) {
            throw new DistilleryException(file + ": spec file is not readable (permission denied)");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read spec file: " + e.getMessage(), e);
        }
    }

    /** Parses spec text; {@code source} names it in messages. */
    public static <T extends Spec> T parse(String text, String source, Class<T> type) {
        return parseLocated(text, source, type, List.of()).spec();
    }

    /**
     * Parses spec text with overrides, as {@link #readLocated(Path, Class, List)} reads a file: how the ranks of a
     * distributed run read the spec the driver read, naming the same file and lines in their errors.
     */
    public static <T extends Spec> Located<T> parseLocated(String text, String source, Class<T> type,
                                                          List<String> overrideList) {
        if (text.lines().allMatch(l -> l.isBlank() || l.strip().startsWith("#"))) {
            throw new SpecException(List.of(source + ":1: the spec is empty"));
        }
        Map<String, Integer> lines = fieldLines(text, source);
        JsonNode tree;
        try (JsonParser p = YAML.getFactory().createParser(text)) {
            tree = p.nextToken() == null ? null : scalarsAsWritten(p);
        } catch (JacksonException e) {
            throw new SpecException(List.of(at(source, e.getLocation()) + ": " + e.getOriginalMessage()));
        } catch (IOException e) {
            throw new DistilleryException(source + ": cannot read: " + e.getMessage(), e);
        }
        if (tree == null || tree.isNull()) {
            throw new SpecException(List.of(source + ":1: the spec is empty"));
        }
        if (!tree.isObject()) {
            throw new SpecException(List.of(source + ":1: the spec must be " + describe(type)));
        }
        Map<String, String> overrides = override((ObjectNode) tree, overrideList);
        Origin where = new Origin(source, lines, overrides);
        // Every problem, not only the first: unknown fields are noted and skipped as the binding goes; a field of
        // the wrong type is noted, taken out, and the binding runs again without it.
        Map<String, String> problems = new java.util.LinkedHashMap<>();
        ObjectNode fields = (ObjectNode) tree;
        T spec = null;
        for (int attempt = 0; attempt < MAX_PROBLEMS && spec == null; attempt++) {
            try {
                spec = YAML.readerFor(type).withHandler(new UnknownFields(where, problems)).readValue(fields);
            } catch (InvalidFormatException e) {
                String expected = e.getTargetType().isEnum()
                        ? "one of " + Arrays.stream(e.getTargetType().getEnumConstants()).map(Object::toString).toList()
                        : describe(e.getTargetType());
                String field = path(e.getPath());
                problems.putIfAbsent(field, where.where(field) + ": field '" + field + "' must be "
                        + expected + ", found '" + e.getValue() + "'");
                dropOrStop(fields, e, problems);
            } catch (MismatchedInputException e) {
                String field = path(e.getPath());
                String what = e.getTargetType() == null ? "a different value" : describe(e.getTargetType());
                problems.putIfAbsent(field, where.where(field) + ": "
                        + (field.isEmpty() ? "the spec" : "field '" + field + "'") + " must be " + what);
                dropOrStop(fields, e, problems);
            } catch (JsonMappingException e) {
                String field = path(e.getPath());
                problems.putIfAbsent(field, where.where(field) + ": field '" + field + "': "
                        + e.getOriginalMessage());
                dropOrStop(fields, e, problems);
            } catch (IOException e) {
                throw new SpecException(List.of(source + ": " + e.getMessage()));
            }
        }
        // The binding's problems in file order (it meets them in another); the spec's own checks after them, in the
        // order they are made (a root cause before what follows from it).
        List<Map.Entry<String, String>> bound = new ArrayList<>(problems.entrySet());
        bound.sort(Comparator.comparingInt(e -> lineOf(lines, e.getKey())));
        problems.clear();
        bound.forEach(e -> problems.put(e.getKey(), e.getValue()));
        if (spec != null) {
            Validation v = new Validation();
            spec.validate(v);
            for (Validation.Problem p : v.problems()) {
                if (!problems.containsKey(p.path())) { // a field already reported (and left out) is not reported again
                    problems.put(p.path(), where.where(p.path()) + ": " + p.path() + " " + p.message());
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new SpecException(List.copyOf(problems.values()));
        }
        return new Located<>(spec, source, lines, overrides);
    }

    /**
     * Applies {@code --set path=value} overrides to the tree, each value read as YAML (a number, a word, a list);
     * returns each path with the option that set it, for messages.
     */
    private static Map<String, String> override(ObjectNode root, List<String> overrides) {
        Map<String, String> set = new java.util.LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (String o : overrides) {
            int eq = o.indexOf('=');
            String key = eq < 0 ? "" : o.substring(0, eq).strip();
            if (!key.matches("[a-z_][a-z0-9_]*(\\[\\d+])*(\\.[a-z_][a-z0-9_]*(\\[\\d+])*)*")) {
                problems.add("--set " + o + ": expected KEY=VALUE with KEY a dotted path to a spec field, such as"
                        + " training.steps=20 or sources[0].path=data/");
                continue;
            }
            JsonNode value;
            try (JsonParser p = YAML.getFactory().createParser(o.substring(eq + 1))) {
                value = p.nextToken() == null ? com.fasterxml.jackson.databind.node.NullNode.getInstance()
                        : scalarsAsWritten(p);
            } catch (IOException e) {
                problems.add("--set " + o + ": the value is no YAML value: " + e.getMessage().lines().findFirst()
                        .orElse(""));
                continue;
            }
            String trouble = put(root, key, value);
            if (trouble != null) {
                problems.add("--set " + o + ": " + trouble);
                continue;
            }
            set.put(key, "--set " + o);
        }
        if (!problems.isEmpty()) {
            throw new SpecException(problems);
        }
        return set;
    }

    /** Puts {@code value} at the dotted {@code path}, making the mappings on the way; why not, or null. */
    private static String put(ObjectNode root, String path, JsonNode value) {
        JsonNode at = root;
        String[] parts = path.split("\\.");
        String walked = "";
        for (int i = 0; i < parts.length; i++) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("([a-z0-9_]+)((?:\\[\\d+])*)").matcher(parts[i]);
            m.matches();
            String name = m.group(1);
            List<Integer> indexes = new ArrayList<>();
            java.util.regex.Matcher ix = java.util.regex.Pattern.compile("\\[(\\d+)]").matcher(m.group(2));
            while (ix.find()) {
                indexes.add(Integer.parseInt(ix.group(1)));
            }
            if (!(at instanceof ObjectNode o)) {
                return walked + " is not a mapping of fields";
            }
            boolean last = i == parts.length - 1;
            walked = walked.isEmpty() ? name : walked + "." + name;
            if (indexes.isEmpty()) {
                if (last) {
                    o.set(name, value);
                    return null;
                }
                if (!o.has(name) || o.get(name).isNull()) {
                    o.putObject(name);
                }
                at = o.get(name);
                continue;
            }
            JsonNode list = o.get(name);
            for (int k = 0; k < indexes.size(); k++) {
                int index = indexes.get(k);
                if (!(list instanceof com.fasterxml.jackson.databind.node.ArrayNode a) || index >= a.size()) {
                    return walked + " has no element " + index + (list instanceof com.fasterxml.jackson.databind.node
                            .ArrayNode a2 ? " (it has " + a2.size() + ")" : " (it is not a list in the spec)");
                }
                walked += "[" + index + "]";
                if (last && k == indexes.size() - 1) {
                    a.set(index, value);
                    return null;
                }
                list = a.get(index);
            }
            at = list;
        }
        return null;
    }

    /** At most this many problems are reported from one spec (a file that is something else entirely has more). */
    private static final int MAX_PROBLEMS = 50;

    /**
     * The YAML value at the parser as a tree whose scalars keep the text they were written as: bound to a string
     * field, {@code version: 1.10} stays "1.10" and a hash of digits keeps its leading zeros; a number field parses
     * the text as the streaming binding did.
     */
    private static JsonNode scalarsAsWritten(JsonParser p) throws IOException {
        com.fasterxml.jackson.databind.node.JsonNodeFactory f = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT) {
            ObjectNode o = f.objectNode();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                o.set(name, scalarsAsWritten(p));
            }
            return o;
        }
        if (t == JsonToken.START_ARRAY) {
            com.fasterxml.jackson.databind.node.ArrayNode a = f.arrayNode();
            while (p.nextToken() != JsonToken.END_ARRAY) {
                a.add(scalarsAsWritten(p));
            }
            return a;
        }
        return switch (t) {
            case VALUE_TRUE, VALUE_FALSE -> f.booleanNode(t == JsonToken.VALUE_TRUE);
            case VALUE_NULL -> f.nullNode();
            default -> f.textNode(p.getText());
        };
    }

    /** Takes the field a binding error names out of the tree; stops (throws what was found) when it cannot. */
    private static void dropOrStop(ObjectNode root, JsonMappingException e, Map<String, String> problems) {
        List<JsonMappingException.Reference> refs = e.getPath();
        if (refs.isEmpty()) {
            throw new SpecException(List.copyOf(problems.values()));
        }
        JsonNode parent = root;
        for (JsonMappingException.Reference r : refs.subList(0, refs.size() - 1)) {
            parent = r.getFieldName() != null ? parent.path(r.getFieldName()) : parent.path(r.getIndex());
        }
        JsonMappingException.Reference last = refs.get(refs.size() - 1);
        if (parent instanceof ObjectNode o && last.getFieldName() != null && o.has(last.getFieldName())) {
            o.remove(last.getFieldName());
        } else if (parent instanceof com.fasterxml.jackson.databind.node.ArrayNode a && last.getIndex() >= 0
                && last.getIndex() < a.size()) {
            a.remove(last.getIndex());
        } else {
            throw new SpecException(List.copyOf(problems.values()));
        }
    }

    /** Notes each unknown field (with the names allowed where it is, and the one likely meant) and skips it. */
    private static final class UnknownFields extends DeserializationProblemHandler {
        private final Origin where;
        private final Map<String, Integer> lines;
        private final Map<String, String> problems;

        UnknownFields(Origin where, Map<String, String> problems) {
            this.where = where;
            this.lines = where.lines();
            this.problems = problems;
        }

        @Override
        public boolean handleUnknownProperty(DeserializationContext ctxt, JsonParser p, JsonDeserializer<?> deserializer,
                                             Object beanOrClass, String field) throws IOException {
            String parent = parentOf(field, pointerPath(p.getParsingContext().getParent()));
            List<String> allowed = deserializer.getKnownPropertyNames().stream().map(Object::toString).sorted().toList();
            String where = parent.isEmpty() ? "at the top level" : "in '" + parent + "'";
            String hint = closest(field, allowed).map(x -> " (did you mean '" + x + "'?)").orElse("");
            String full = parent.isEmpty() ? field : parent + "." + field;
            problems.putIfAbsent(full, this.where.where(full) + ": unknown field '" + field + "' " + where
                    + hint + "; allowed: " + String.join(", ", allowed));
            p.skipChildren();
            return true;
        }

        /**
         * Where an unknown field is: the one place in the file where a field of that name is, else where the parser
         * says (records are bound from a buffer whose context does not always know its parents).
         */
        private String parentOf(String field, String fromParser) {
            List<String> at = java.util.stream.Stream.concat(lines.keySet().stream(), where.overrides().keySet()
                    .stream()).distinct().filter(k -> k.equals(field) || k.endsWith("." + field)).toList();
            if (at.size() == 1) {
                String full = at.get(0);
                return full.equals(field) ? "" : full.substring(0, full.length() - field.length() - 1);
            }
            return fromParser;
        }
    }

    /** The dotted path ({@code sources[0].path}) of a place in the tree being bound. */
    private static String pointerPath(com.fasterxml.jackson.core.JsonStreamContext c) {
        List<String> parts = new ArrayList<>();
        for (com.fasterxml.jackson.core.JsonStreamContext x = c; x != null && !x.inRoot(); x = x.getParent()) {
            if (x.inArray()) {
                parts.add(0, "[" + x.getCurrentIndex() + "]");
            } else if (x.getCurrentName() != null) {
                parts.add(0, x.getCurrentName());
            }
        }
        StringBuilder b = new StringBuilder();
        for (String part : parts) {
            if (!b.isEmpty() && !part.startsWith("[")) {
                b.append('.');
            }
            b.append(part);
        }
        return b.toString();
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
