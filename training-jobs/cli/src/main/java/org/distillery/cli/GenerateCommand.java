package org.distillery.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.tokenizer.BpeTokenizer;
import org.distillery.core.tokenizer.HfTokenizerJson;
import org.distillery.model.Checkpoint;
import org.distillery.model.Generator;
import org.distillery.model.Gpt;
import org.distillery.model.GptParameters;
import org.distillery.model.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "generate", description = "Continue a prompt with a trained checkpoint.")
final class GenerateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "a .ckpt file, or a train or distill output folder"
            + " (its model.ckpt)")
    Path checkpoint;

    @Parameters(index = "1", paramLabel = "PROMPT", description = "the text to continue")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "50", description = "tokens to generate")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 for greedy decoding, else > 0")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "sample among the k most likely tokens (0: all)")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "nucleus sampling: the top tokens up to this mass")
    double topP;

    @Option(names = "--seed", description = "sampling seed (default: a fresh random one, printed on stderr so the"
            + " output can be repeated)")
    Long seed;

    @Override
    public Integer call() {
        if (maxNewTokens < 0) {
            throw new DistilleryException("--max-new-tokens is " + maxNewTokens + "; give a count of 0 or more");
        }
        long chosen = seed != null ? seed : new java.security.SecureRandom().nextLong() >>> 1;
        Sampler sampler;
        try {
            sampler = new Sampler(temperature, topK, topP, chosen);
        } catch (IllegalArgumentException e) {
            throw new DistilleryException(e.getMessage());
        }
        Path file = ModelFiles.checkpoint(checkpoint);
        Checkpoint ck = Checkpoint.read(file);
        BpeTokenizer tok = HfTokenizerJson.parse(ck.header().tokenizer().json(), file + " (embedded tokenizer)");
        int[] ids = tok.encode(prompt);
        if (ids.length == 0) {
            throw new DistilleryException("the prompt encodes to no tokens: give some text");
        }
        Gpt gpt = new Gpt(GptParameters.wrap(ck.header().model(), ck.section(Checkpoint.PARAMS)));
        if (seed == null && temperature > 0) {
            System.err.println("note: sampling with seed " + chosen + " (--seed " + chosen + " repeats this output)");
        }
        int eot = tok.idOf("<|endoftext|>");
        int[] out = new Generator(gpt).generate(ids, maxNewTokens, sampler, eot);
        int end = out.length > ids.length && out[out.length - 1] == eot ? out.length - 1 : out.length; // it ended
        System.out.println(tok.decode(java.util.Arrays.copyOf(out, end)));
        return 0;
    }
}
