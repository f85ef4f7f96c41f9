package org.distillery.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;

/**
 * Loads an original GPT-2 tokenizer: {@code vocab.json} (token → id; OpenAI's {@code encoder.json})
 * and {@code merges.txt} (one "left right" merge per line after a "#version" header; OpenAI's
 * {@code vocab.bpe}). {@code <|endoftext|>} becomes a special token when the vocabulary has it.
 */
public final class Gpt2VocabFiles {
    public static final String END_OF_TEXT = "<|endoftext|>";

    private Gpt2VocabFiles() {
    }

    public static BpeTokenizer read(Path vocabJson, Path mergesTxt) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(vocabJson.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new DistilleryException(vocabJson + ": vocabulary file not found");
        } catch (IOException e) {
            throw new DistilleryException(vocabJson + ": not a JSON object of token → id: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new DistilleryException(vocabJson + ": expected a JSON object of token → id");
        }
        root.fields().forEachRemaining(e -> {
            if (!e.getValue().isInt()) {
                throw new DistilleryException(vocabJson + ": id of token '" + e.getKey() + "' is not an integer");
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        });
        List<BpeTokenizer.Merge> merges = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(mergesTxt, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isEmpty() || (lineNo == 1 && line.startsWith("#version"))) {
                    continue;
                }
                int sp = line.indexOf(' ');
                if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
                    throw new DistilleryException(mergesTxt + ":" + lineNo + ": expected \"left right\", found \""
                            + line + "\"");
                }
                merges.add(new BpeTokenizer.Merge(line.substring(0, sp), line.substring(sp + 1)));
            }
        } catch (NoSuchFileException e) {
            throw new DistilleryException(mergesTxt + ": merges file not found");
        } catch (IOException e) {
            throw new DistilleryException(mergesTxt + ": cannot read: " + e.getMessage(), e);
        }
        List<String> specials = vocab.containsKey(END_OF_TEXT) ? List.of(END_OF_TEXT) : List.of();
        try {
            return new BpeTokenizer(vocab, merges, specials);
        } catch (IllegalArgumentException e) {
            throw new DistilleryException(vocabJson + " + " + mergesTxt + ": " + e.getMessage());
        }
    }

    /** Writes GPT-2's slow-tokenizer files for {@code tokenizer}: vocab.json (token to id) and merges.txt. */
    public static void write(BpeTokenizer tokenizer, Path vocabJson, Path mergesTxt) throws IOException {
        com.fasterxml.jackson.databind.node.ObjectNode vocab = new ObjectMapper().createObjectNode();
        tokenizer.vocab().entrySet().stream().sorted(Map.Entry.comparingByValue())
                .forEach(e -> vocab.put(e.getKey(), e.getValue()));
        org.distillery.core.io.AtomicFile.write(vocabJson, new ObjectMapper().writeValueAsBytes(vocab));
        StringBuilder merges = new StringBuilder("#version: 0.2\n");
        for (BpeTokenizer.Merge m : tokenizer.merges()) {
            merges.append(m.left()).append(' ').append(m.right()).append('\n');
        }
        org.distillery.core.io.AtomicFile.write(mergesTxt, merges.toString().getBytes(StandardCharsets.UTF_8));
    }
}
