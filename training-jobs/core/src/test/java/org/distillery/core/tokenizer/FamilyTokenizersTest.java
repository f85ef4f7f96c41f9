package org.distillery.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.distillery.core.DistilleryException;
import org.distillery.core.testing.Peers;
import org.distillery.core.testing.RepoFixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokenizers of the Llama family, built and trained by Hugging Face tokenizers as Llama 3 and Qwen2 ship theirs (a
 * Split regex before a regex-less ByteLevel; Llama 3's ignore_merges, Qwen2's NFC normalizer): Distillery reads their
 * tokenizer.json and encodes every test text to the same ids, and writes a tokenizer.json that encodes alike. A
 * SentencePiece-style tokenizer (Metaspace, byte fallback) is refused with a message that says so.
 */
class FamilyTokenizersTest {
    @TempDir
    Path dir;

    private static List<String> sentences(String file) throws Exception {
        List<String> out = new ArrayList<>();
        for (JsonNode s : new ObjectMapper().readTree(RepoFixtures.datasets().resolve("nlp-corpus/sample/" + file)
                .toFile())) {
            out.add(s.asText());
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen2"})
    void encodesLikeHuggingFaceTokenizers(String kind) throws Exception {
        List<String> train = new ArrayList<>(sentences("doc-0.json"));
        train.addAll(ParityTexts.TRICKY);
        train.add("1234567 12 123 1 ٣٤٥٦ café cafe\u0301 Ｆｕｌｌｗｉｄｔｈ ﬁ ligature");
        List<String> texts = new ArrayList<>(ParityTexts.TRICKY);
        texts.addAll(sentences("doc-1.json"));
        texts.add("digits 1 12 123 1234 12345 1234567890 and ٣٤٥٦٧ and ½²");
        texts.add("NFC: cafe\u0301 vs café, A\u030a vs Å, ﬁ stays, Ｆｕｌｌ stays");
        texts.add("CASE 'S 'Re 'VE 'Ll I'M he'D");
        texts.add("newlines\r\n\r\n  then spaces   \n\tand tabs\t\t");
        Path file = dir.resolve(kind + ".json");
        JsonNode hf = Peers.python("hf_family_tokenizer.py", Map.of("kind", kind, "train_texts", train,
                "texts", texts, "out", file.toString()));
        BpeTokenizer tok = HfTokenizerJson.read(file);
        assertTrue(tok.options().preTokenizer() instanceof PreTokenizer.Regex, "the Split regex is read");
        assertEquals(kind.equals("qwen2"), tok.options().nfc(), "the normalizer");
        assertEquals(kind.equals("llama3"), tok.options().ignoreMerges(), "ignore_merges");
        List<int[]> ids = Peers.idLists(hf.get("ids"));
        BpeTokenizer written = HfTokenizerJson.parse(HfTokenizerJson.toJson(tok), "written");
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            assertArrayEquals(ids.get(i), tok.encode(t), () -> kind + ": ids differ for: " + t);
            assertArrayEquals(ids.get(i), written.encode(t), () -> kind + ": the written tokenizer.json differs for: "
                    + t);
            assertEquals(hf.get("decoded").get(i).asText(), tok.decode(ids.get(i)), () -> "decoding differs for: " + t);
        }
    }

    @Test
    void aSentencePieceStyleTokenizerIsRefusedSayingSo() throws Exception {
        Path file = dir.resolve("metaspace.json");
        Peers.python("hf_family_tokenizer.py", Map.of("kind", "metaspace", "train_texts", sentences("doc-0.json"),
                "texts", List.of("hello"), "out", file.toString()));
        DistilleryException e = assertThrows(DistilleryException.class, () -> HfTokenizerJson.read(file));
        assertTrue(e.getMessage().startsWith(file + ": field 'model.byte_fallback' is true: a SentencePiece-style"
                + " tokenizer (Llama 2, Mistral), which Distillery does not read"), e.getMessage());
    }
}
