package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "import", description = "Read a Hugging Face GPT-2, Llama, Qwen2 or Mistral folder (safetensors, config.json, tokenizer) into a"
        + " Distillery checkpoint, to start training from or to distill as a teacher.")
final class ImportCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "HF_DIR", description = "a folder saved by save_pretrained (or a Distillery hf export)")
    Path dir;

    @Option(names = "--out", description = "the checkpoint to write, or a folder to write <folder name>.ckpt into"
            + " (default: <work-dir>/import/<folder name>.ckpt)")
    Path out;

    @Option(names = "--overwrite", description = "replace an existing checkpoint (as export and prep do)")
    boolean overwrite;

    @Override
    public Integer call() throws IOException {
        String name = dir.toAbsolutePath().normalize().getFileName() + ".ckpt";
        Path file = out == null ? top.workDir().resolve("import").resolve(name)
                : Files.isDirectory(out) ? out.resolve(name) : out;
        if (Files.exists(file) && !overwrite) {
            throw new DistilleryException(file + ": already exists; remove it or pass --overwrite");
        }
        Checkpoint ck = HfImporter.read(dir, Distillery.version());
        ck.write(file);
        GptConfig c = ck.header().model();
        System.out.println("checkpoint     " + file.toAbsolutePath());
        String heads = c.kvHeads() == c.nHead() ? c.nHead() + " heads" : c.nHead() + " heads over " + c.kvHeads()
                + " kv heads";
        System.out.printf("model          %s, %d layers, %s, %d wide, block %d, vocab %d: %,d parameters%n",
                c.arch(), c.nLayer(), heads, c.nEmbd(), c.blockSize(), c.vocabSize(), c.parameterCount());
        System.out.println("tokenizer      " + ck.header().tokenizer().vocabSize() + " tokens, sha256 "
                + ck.header().tokenizer().sha256());
        return 0;
    }
}
