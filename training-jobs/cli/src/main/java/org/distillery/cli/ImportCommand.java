package org.distillery.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.export.HfImporter;
import org.distillery.model.Checkpoint;
import org.distillery.model.GptConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "import", description = "Read a Hugging Face GPT-2 folder (safetensors, config.json, tokenizer) into a"
        + " Distillery checkpoint, to start training from or to distill as a teacher.")
final class ImportCommand implements Callable<Integer> {
    @ParentCommand
    Distillery top;

    @Parameters(paramLabel = "HF_DIR", description = "a folder saved by save_pretrained (or a Distillery hf export)")
    Path dir;

    @Option(names = "--out", description = "the checkpoint to write (default: <work-dir>/import/<folder name>.ckpt)")
    Path out;

    @Override
    public Integer call() throws IOException {
        Checkpoint ck = HfImporter.read(dir, Distillery.version());
        Path file = out != null ? out : top.workDir().resolve("import").resolve(dir.toAbsolutePath().getFileName() + ".ckpt");
        ck.write(file);
        GptConfig c = ck.header().model();
        System.out.println("checkpoint     " + file.toAbsolutePath());
        System.out.printf("model          %d layers, %d heads, %d wide, block %d, vocab %d: %,d parameters%n",
                c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), c.vocabSize(), c.parameterCount());
        System.out.println("tokenizer      " + ck.header().tokenizer().vocabSize() + " tokens, sha256 "
                + ck.header().tokenizer().sha256());
        return 0;
    }
}
