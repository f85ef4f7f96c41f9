package org.distillery.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.distillery.core.testing.Peers;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tokenizer.json written by Distillery, loaded by Hugging Face tokenizers, encodes to the same ids. */
class HfTokenizersParityTest {
    @TempDir
    Path dir;

    @Test
    void trainedTokenizerEncodesLikeHuggingFaceTokenizers() throws Exception {
        List<String> sentences = new ArrayList<>();
        for (JsonNode s : new ObjectMapper().readTree(
                RepoFixtures.datasets().resolve("nlp-corpus/sample/doc-0.json").toFile())) {
            sentences.add(s.asText());
        }
        // Train on the first file's sentences; check on held-out sentences and on the tricky texts.
        Map<String, Long> counts = new HashMap<>();
        for (String s : sentences.subList(0, 400)) {
            for (String piece : Gpt2PreTokenizer.pieces(s)) {
                counts.merge(ByteLevel.encode(piece), 1L, Long::sum);
            }
        }
        BpeTokenizer tok = new BpeTrainer(1200, 2, List.of("<|endoftext|>")).train(counts);
        Path file = dir.resolve("tokenizer.json");
        HfTokenizerJson.write(tok, file);
        assertEquals(tok.merges(), HfTokenizerJson.read(file).merges(), "tokenizer.json reads back");

        List<String> texts = new ArrayList<>(ParityTexts.TRICKY);
        texts.addAll(sentences.subList(400, sentences.size()));
        for (JsonNode s : new ObjectMapper().readTree(
                RepoFixtures.datasets().resolve("nlp-corpus/sample/doc-1.json").toFile())) {
            texts.add(s.asText());
        }
        JsonNode hf = Peers.python("hf_encode.py", Map.of("tokenizer_json", file.toString(), "texts", texts));
        List<int[]> hfIds = Peers.idLists(hf.get("ids"));
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            int[] ours = tok.encode(t);
            assertArrayEquals(hfIds.get(i), ours, () -> "ids differ for: " + t);
            assertEquals(hf.get("decoded").get(i).asText(), tok.decode(ours), () -> "decoding differs for: " + t);
        }
        assertEquals(texts.size(), hfIds.size());
        assertEquals(true, Files.size(file) > 0);
    }
}
