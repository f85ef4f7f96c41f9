package org.distillery.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.distillery.core.shard.ShardFormatException;
import org.distillery.core.shard.ShardManifest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "shards", description = "Inspect prep outputs.", subcommands = ShardsCommand.Verify.class)
final class ShardsCommand {
    @Command(name = "verify", description = "Check every shard and the tokenizer against the manifest: 'DIR: ok' and"
            + " the token counts, or 'DIR: FAIL' and the damage (exit code 1).")
    static final class Verify implements Callable<Integer> {
        @Parameters(paramLabel = "DIR", description = "a prep output folder")
        Path dir;

        @Override
        public Integer call() throws Exception {
            ShardManifest m = ShardManifest.read(dir); // no manifest, or not one: bad input (exit code 2)
            try {
                m.verify(dir);
            } catch (ShardFormatException e) {
                System.out.println(dir + ": FAIL " + e.getMessage());
                return Distillery.ExitCode.CHECK_FAILED;
            }
            System.out.println(dir + ": ok, train " + m.tokens("train") + " tokens, val " + m.tokens("val") + " tokens");
            return Distillery.ExitCode.OK;
        }
    }
}
