package org.distillery.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.io.AtomicFile;

/**
 * Reads and writes Hugging Face {@code tokenizer.json} for byte-level BPE, the layout GPT-2's
 * fast tokenizer uses: a BPE model with a ByteLevel pre-tokenizer, post-processor and decoder, no
 * normalizer, and special tokens as added tokens. What this writes, {@code tokenizers} loads and
 * encodes to the same ids (a parity test holds it to that).
 */
public final class HfTokenizerJson {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HfTokenizerJson() {
    }

    /** The tokenizer.json text for {@code tokenizer}; deterministic, so its hash identifies the tokenizer. */
    public static String toJson(BpeTokenizer tokenizer) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String s : tokenizer.specialTokens()) {
            ObjectNode t = added.addObject();
            t.put("id", tokenizer.idOf(s));
            t.put("content", s);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        BpeTokenizer.Options o = tokenizer.options();
        if (o.nfc()) {
            root.putObject("normalizer").put("type", "NFC");
        } else {
            root.putNull("normalizer");
        }
        if (o.preTokenizer() instanceof PreTokenizer.Regex r) {
            ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
            ArrayNode list = seq.putArray("pretokenizers");
            ObjectNode split = list.addObject().put("type", "Split");
            split.putObject("pattern").put("Regex", r.regex());
            split.put("behavior", "Isolated").put("invert", false);
            list.add(byteLevel(false, false).put("use_regex", false));
        } else {
            root.set("pre_tokenizer", byteLevel(false, true));
        }
        root.set("post_processor", byteLevel(true, false));
        root.set("decoder", byteLevel(true, true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        if (o.ignoreMerges()) {
            model.put("ignore_merges", true);
        }
        ObjectNode vocab = model.putObject("vocab");
        tokenizer.vocab().entrySet().stream()
                .sorted(Map.Entry.comparingByValue())
                .forEach(e -> vocab.put(e.getKey(), e.getValue()));
        ArrayNode merges = model.putArray("merges");
        for (BpeTokenizer.Merge m : tokenizer.merges()) {
            merges.addArray().add(m.left()).add(m.right());
        }
        try {
            return JSON.writeValueAsString(root) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", addPrefixSpace);
        n.put("trim_offsets", trimOffsets);
        n.put("use_regex", true);
        return n;
    }

    /** Writes atomically (temp file, fsync, rename). */
    public static void write(BpeTokenizer tokenizer, Path file) throws IOException {
        AtomicFile.write(file, toJson(tokenizer).getBytes(StandardCharsets.UTF_8));
    }

    public static BpeTokenizer read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new DistilleryException(file + ": tokenizer file not found");
        } catch (IOException e) {
            throw new DistilleryException(file + ": cannot read tokenizer: " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** Parses tokenizer.json text; {@code source} names it in errors. */
    public static BpeTokenizer parse(String text, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new DistilleryException(source + ":" + e.getLocation().getLineNr() + ": not valid JSON: "
                    + e.getOriginalMessage());
        }
        JsonNode model = require(root, "model", source);
        expect(model, "type", "BPE", source, "model.type");
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new DistilleryException(source + ": field 'model.byte_fallback' is true: a SentencePiece-style"
                    + " tokenizer (Llama 2, Mistral), which Distillery does not read; it reads byte-level BPE tokenizers"
                    + " (GPT-2, Llama 3, Qwen2)");
        }
        boolean nfc = normalizer(root.path("normalizer"), source);
        PreTokenizer pre = preTokenizer(require(root, "pre_tokenizer", source), source);
        boolean ignoreMerges = model.path("ignore_merges").asBoolean(false);
        JsonNode vocabNode = require(model, "vocab", source);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        vocabNode.fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        List<BpeTokenizer.Merge> merges = new ArrayList<>();
        int i = 0;
        for (JsonNode m : require(model, "merges", source)) {
            if (m.isArray() && m.size() == 2) {
                merges.add(new BpeTokenizer.Merge(m.get(0).asText(), m.get(1).asText()));
            } else if (m.isTextual() && m.asText().indexOf(' ') > 0) {
                String s = m.asText();
                int sp = s.indexOf(' ');
                merges.add(new BpeTokenizer.Merge(s.substring(0, sp), s.substring(sp + 1)));
            } else {
                throw new DistilleryException(source + ": model.merges[" + i + "] must be \"left right\" or"
                        + " [\"left\", \"right\"], found " + m);
            }
            i++;
        }
        List<String> specials = new ArrayList<>();
        List<JsonNode> added = new ArrayList<>();
        root.path("added_tokens").forEach(added::add);
        added.sort(Comparator.comparingInt(n -> n.path("id").asInt()));
        for (JsonNode t : added) {
            String content = t.path("content").asText();
            vocab.putIfAbsent(content, t.path("id").asInt());
            specials.add(content);
        }
        try {
            return new BpeTokenizer(vocab, merges, specials, new BpeTokenizer.Options(pre, nfc, ignoreMerges));
        } catch (IllegalArgumentException e) {
            throw new DistilleryException(source + ": " + e.getMessage());
        }
    }

    /** Whether the normalizer is NFC (alone or in a sequence of NFCs); none is false; any other is an error. */
    private static boolean normalizer(JsonNode n, String source) {
        if (n.isNull() || n.isMissingNode()) {
            return false;
        }
        String type = n.path("type").asText();
        if (type.equals("NFC")) {
            return true;
        }
        if (type.equals("Sequence")) {
            boolean any = false;
            for (JsonNode each : n.path("normalizers")) {
                any |= normalizer(each, source);
            }
            return any;
        }
        throw new DistilleryException(source + ": field 'normalizer' is '" + type + "'; Distillery reads none or NFC"
                + " (byte-level BPE as GPT-2, Llama 3 and Qwen2 ship it)");
    }

    /**
     * GPT-2's {@code ByteLevel} (its own regex), or a {@code Sequence} of a {@code Split} (a regex, behavior
     * Isolated) and a {@code ByteLevel} without a regex, as Llama 3 and Qwen2 ship theirs. Anything else (a
     * SentencePiece-style {@code Metaspace}, other split behaviors) is an error naming it.
     */
    private static PreTokenizer preTokenizer(JsonNode pre, String source) {
        String type = pre.path("type").asText();
        switch (type) {
            case "ByteLevel" -> {
                byteLevelWithout(pre, source, "pre_tokenizer");
                if (!pre.path("use_regex").asBoolean(true)) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer.use_regex' is false with no Split"
                            + " before it: the text would not be split into words at all");
                }
                return PreTokenizer.GPT2;
            }
            case "Sequence" -> {
                JsonNode list = pre.path("pretokenizers");
                if (list.size() != 2 || !list.get(0).path("type").asText().equals("Split")
                        || !list.get(1).path("type").asText().equals("ByteLevel")) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer' is a Sequence of "
                            + types(list) + "; Distillery reads [Split, ByteLevel] (Llama 3, Qwen2) or GPT-2's ByteLevel");
                }
                JsonNode split = list.get(0);
                byteLevelWithout(list.get(1), source, "pre_tokenizer.pretokenizers[1]");
                if (list.get(1).path("use_regex").asBoolean(true)) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer.pretokenizers[1].use_regex' must be"
                            + " false after a Split (the Split cuts the words)");
                }
                if (!split.path("behavior").asText().equals("Isolated") || split.path("invert").asBoolean(false)) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer.pretokenizers[0]' is a Split with"
                            + " behavior '" + split.path("behavior").asText() + "' and invert "
                            + split.path("invert").asBoolean(false) + "; Distillery reads behavior Isolated, invert false");
                }
                JsonNode pattern = split.path("pattern");
                String regex = pattern.has("Regex") ? pattern.get("Regex").asText()
                        : pattern.has("String") ? java.util.regex.Pattern.quote(pattern.get("String").asText()) : null;
                if (regex == null) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer.pretokenizers[0].pattern' must hold"
                            + " 'Regex' or 'String', found " + pattern);
                }
                try {
                    return PreTokenizer.Regex.of(regex);
                } catch (java.util.regex.PatternSyntaxException e) {
                    throw new DistilleryException(source + ": field 'pre_tokenizer.pretokenizers[0].pattern.Regex' is"
                            + " no regex Java reads: " + e.getDescription() + " at index " + e.getIndex());
                }
            }
            case "Metaspace" -> throw new DistilleryException(source + ": field 'pre_tokenizer' is 'Metaspace': a"
                    + " SentencePiece-style tokenizer (Llama 2, Mistral), which Distillery does not read; it reads"
                    + " byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2)");
            default -> throw new DistilleryException(source + ": field 'pre_tokenizer.type' is '" + type
                    + "'; Distillery reads ByteLevel (GPT-2) or a Sequence of Split and ByteLevel (Llama 3, Qwen2)");
        }
    }

    private static void byteLevelWithout(JsonNode byteLevel, String source, String path) {
        if (byteLevel.path("add_prefix_space").asBoolean(false)) {
            throw new DistilleryException(source + ": field '" + path + ".add_prefix_space' must be false");
        }
    }

    private static String types(JsonNode list) {
        List<String> t = new ArrayList<>();
        list.forEach(n -> t.add(n.path("type").asText()));
        return t.toString();
    }

    private static JsonNode require(JsonNode node, String field, String source) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new DistilleryException(source + ": missing field '" + field + "'");
        }
        return v;
    }

    private static void expect(JsonNode node, String field, String value, String source, String path) {
        String actual = node.path(field).asText(null);
        if (!value.equals(actual)) {
            throw new DistilleryException(source + ": field '" + path + "' is '" + actual + "'; Distillery reads '"
                    + value + "' (byte-level BPE, GPT-2 style)");
        }
    }
}
