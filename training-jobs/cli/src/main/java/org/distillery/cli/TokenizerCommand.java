package org.distillery.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.Gpt2VocabFiles;
import org.distillery.core.tokenizer.HfTokenizerJson;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "tokenizer", description = "Use a tokenizer directly.", subcommands = TokenizerCommand.Encode.class)
final class TokenizerCommand {

    /** Which tokenizer: a tokenizer.json, or GPT-2's vocab.json + merges.txt. */
    static final class Source {
        @Option(names = "--tokenizer", description = "a Hugging Face tokenizer.json, or a prep output folder (its"
                + " tokenizer.json)")
        Path tokenizerJson;

        @ArgGroup(exclusive = false)
        Gpt2 gpt2;

        static final class Gpt2 {
            @Option(names = "--vocab", required = true, description = "GPT-2 vocab.json (encoder.json)")
            Path vocab;
            @Option(names = "--merges", required = true, description = "GPT-2 merges.txt (vocab.bpe)")
            Path merges;
        }

        BpeTokenizer load() {
            return tokenizerJson != null ? HfTokenizerJson.read(ModelFiles.tokenizer(tokenizerJson))
                    : Gpt2VocabFiles.read(gpt2.vocab, gpt2.merges);
        }
    }

    @Command(name = "encode", description = "Print the token ids of TEXT (or of stdin), space-separated.")
    static final class Encode implements Callable<Integer> {
        @ArgGroup(exclusive = true, multiplicity = "1")
        Source source;

        @Parameters(arity = "0..1", paramLabel = "TEXT", description = "the text to encode (default: stdin)")
        String text;

        @Override
        public Integer call() throws IOException {
            BpeTokenizer tok = source.load();
            String t = text != null ? text : new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
            System.out.println(Arrays.stream(tok.encode(t)).mapToObj(String::valueOf).collect(Collectors.joining(" ")));
            return 0;
        }
    }
}
