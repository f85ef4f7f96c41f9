package org.distillery.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.shard.ShardManifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "shards", description = "Inspect prep outputs.", subcommands = ShardsCommand.Verify.class)
final class ShardsCommand {
    @Command(name = "verify", description = "Check every shard and the tokenizer against the manifest.")
    static final class Verify implements Callable<Integer> {
        @Parameters(paramLabel = "DIR", description = "a prep output folder")
        Path dir;

        @Override
        public Integer call() throws Exception {
            ShardManifest m = ShardManifest.read(dir);
            m.verify(dir);
            System.out.println(dir + ": ok, train " + m.tokens("train") + " tokens, val " + m.tokens("val") + " tokens");
            return 0;
        }
    }
}
