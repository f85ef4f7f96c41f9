package org.distillery.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.distillery.core.DistilleryException;
import org.distillery.core.shard.ShardManifest;
import org.distillery.model.AdamW;
import org.distillery.model.Gpt;
import org.distillery.model.GptConfig;
import org.distillery.model.GptParameters;
import org.distillery.model.train.TokenWindows;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Training throughput against PyTorch on the CPU: the same GPT-2 (or Llama-family model, {@code --arch llama}), the
 * same AdamW with clipping, the same token windows (written to a file the peer reads) and the same thread count, in
 * one run.
 */
@Command(name = "train", description = "Training steps/s against PyTorch (CPU), same model, batches and threads.")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--prep", required = true, description = "a prep output: its train shards and vocabulary")
    Path prepDir;

    @Option(names = "--steps", defaultValue = "150", description = "steps in all")
    int steps;

    @Option(names = "--warmup", defaultValue = "30",
            description = "untimed first steps, for both sides (the JIT compiles the JVM side's kernels over the first 20-30 steps)")
    int warmup;

    @Option(names = "--layers", defaultValue = "4")
    int layers;

    @Option(names = "--ranks", defaultValue = "1", description = "N > 1: data-parallel steps over N ranks (threads of"
            + " this process on a loopback ring, one micro-batch of --batch each) against one process computing the"
            + " same N micro-batches per step; the step split into compute, all-reduce and optimizer")
    int ranks;

    @Option(names = "--arch", defaultValue = "gpt2", description = "gpt2, or llama: RoPE, RMSNorm, a SiLU-gated MLP and"
            + " grouped-query attention, against the same model in PyTorch")
    String arch;

    @Option(names = "--kv-heads", description = "llama: key/value heads (default: half the heads, grouped-query"
            + " attention, or all of them when the heads are odd)")
    Integer kvHeads;

    @Option(names = "--intermediate", description = "llama: the MLP's width (default: 8/3 of --embd, a multiple of 32)")
    Integer intermediate;

    @Option(names = "--precision", defaultValue = "fp32", description = "fp32, or bf16: matrix products with bfloat16"
            + " operands and float32 accumulation (training.precision: bf16), against PyTorch under"
            + " torch.autocast(\"cpu\", dtype=torch.bfloat16). On a CPU without bf16 instructions Distillery says so"
            + " and runs fp32; -Ddistillery.bf16=emulate forces MKL's emulation")
    String precision;

    @Option(names = "--pinned", description = "with --ranks N: each rank a separate process pinned to its own core"
            + " (taskset), against one process pinned to one core computing one rank's micro-batch per step; reports"
            + " the scaling efficiency (tokens/s of N ranks over N times one core's), and PyTorch DDP's under the same"
            + " pinning")
    boolean pinned;

    /** A rank process of --pinned: its rank, and the folder where the ranks meet. */
    @Option(names = "--as-rank", hidden = true)
    Integer asRank;

    @Option(names = "--rendezvous", hidden = true)
    Path rendezvous;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    GptBenchOptions gpt;

    /** The benchmarked model over {@code vocab} tokens. */
    private GptConfig config(int layers, int vocab) {
        if (arch.equals(GptConfig.GPT2)) {
            return new GptConfig(layers, gpt.heads, gpt.embd, gpt.block, vocab, 0.0);
        }
        if (!arch.equals(GptConfig.LLAMA)) {
            throw new DistilleryException("--arch " + arch + ": expected gpt2 or llama");
        }
        int kv = kvHeads != null ? kvHeads : gpt.heads % 2 == 0 ? gpt.heads / 2 : gpt.heads;
        int inter = intermediate != null ? intermediate : (8 * gpt.embd / 3 + 31) / 32 * 32;
        if (kv < 1 || gpt.heads % kv != 0) {
            throw new DistilleryException("--kv-heads " + kv + ": must divide --heads " + gpt.heads);
        }
        return new GptConfig(layers, gpt.heads, gpt.embd, gpt.block, vocab, 0.0,
                new GptConfig.Llama(kv, inter, 10000, 1e-5, false, false));
    }

    /** The peer's config: GptBenchOptions' and, for a Llama model, the family's settings. */
    private ObjectNode peerConfig(GptConfig config) {
        ObjectNode c = gpt.peerConfig(config.nLayer(), config.vocabSize(), steps, warmup);
        if (config.llama() != null) {
            GptConfig.Llama ll = config.llama();
            c.put("arch", GptConfig.LLAMA).put("n_kv_head", ll.nKvHead()).put("intermediate_size", ll.intermediateSize())
                    .put("rope_theta", ll.ropeTheta()).put("rms_norm_eps", ll.rmsNormEps())
                    .put("tie_word_embeddings", ll.tieWordEmbeddings()).put("attention_bias", ll.attentionBias());
        }
        return c;
    }

    @Override
    public Integer call() throws Exception {
        if (warmup >= steps) {
            throw new DistilleryException("--warmup (" + warmup + ") must be below --steps (" + steps + ")");
        }
        if (ranks < 1) {
            throw new DistilleryException("--ranks " + ranks + ": must be 1 or more");
        }
        if (asRank != null) {
            return rankProcess();
        }
        if (pinned) {
            return pinnedRanks();
        }
        if (ranks > 1) {
            return dataParallel();
        }
        ShardManifest manifest = ShardManifest.read(prepDir);
        int block = gpt.block;
        int batch = gpt.batch;
        GptConfig config = config(layers, manifest.tokenizer().vocabSize());
        int threads = Runtime.getRuntime().availableProcessors();
        Gpt.Batch[] batches = new Gpt.Batch[steps];
        try (TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
            for (int s = 0; s < steps; s++) {
                batches[s] = train.randomBatch(gpt.seed, s, 0, batch, block);
            }
        }
        if (!org.distillery.core.spec.TrainSpec.Training.PRECISIONS.contains(precision)) {
            throw new DistilleryException("--precision is '" + precision + "': expected one of "
                    + org.distillery.core.spec.TrainSpec.Training.PRECISIONS);
        }
        ObjectNode c = peerConfig(config).put("precision", precision);
        Side mine = runDistillery(config, batches);
        JsonNode peer = gpt.runPeer(batches, c);

        double tokensPerStep = (double) batch * block;
        ObjectNode f = BenchCommand.JSON.createObjectNode();
        f.put("benchmark", "train");
        f.put("arch", config.arch());
        f.set("model", c.deepCopy().without(java.util.List.of("steps", "warmup", "threads", "seed")));
        f.put("parameters", config.parameterCount());
        f.put("threads", threads);
        f.put("timed_steps", steps - warmup);
        ObjectNode d = f.putObject("distillery");
        d.put("backend", Nd4j.getBackend().getClass().getSimpleName());
        d.put("kernels", mine.engine);
        d.put("precision", mine.engine.endsWith("/bf16") ? "bf16" : "fp32");
        d.put("ms_per_step", mine.msPerStep);
        d.put("tokens_per_s", tokensPerStep * 1000 / mine.msPerStep);
        d.put("peak_rss_mb", GptBenchOptions.peakRssMb());
        d.put("first_loss", mine.firstLoss);
        d.put("last_loss", mine.lastLoss);
        ObjectNode t = f.putObject("pytorch");
        peer.fields().forEachRemaining(e -> t.set(e.getKey(), e.getValue()));
        double ratio = peer.get("ms_per_step").asDouble() / mine.msPerStep;
        f.put("ratio_distillery_over_pytorch", ratio);
        BenchCommand.write(gpt.benchDir, "train.json", f);
        System.out.printf("bench train (%s): distillery %.1f ms/step (%.0f tokens/s, %.0f MB peak RSS, %s),"
                        + " pytorch %s %.1f ms/step (%.0f tokens/s, %.0f MB), ratio %.2fx"
                        + " (%d threads, %d timed steps, loss %.3f -> %.3f vs %.3f -> %.3f)%n",
                config.arch(), mine.msPerStep, d.get("tokens_per_s").asDouble(), d.get("peak_rss_mb").asDouble(), mine.engine,
                peer.get("torch_version").asText(), peer.get("ms_per_step").asDouble(),
                peer.get("tokens_per_s").asDouble(), peer.get("peak_rss_mb").asDouble(), ratio, threads,
                steps - warmup, mine.firstLoss, mine.lastLoss, peer.get("first_loss").asDouble(),
                peer.get("last_loss").asDouble());
        return 0;
    }

    private record Side(double msPerStep, double firstLoss, double lastLoss, String engine) {
    }

    /** One way of running the steps: wall time per step, and its parts (compute, all-reduce, optimizer), in ms. */
    private record Split(double msPerStep, double computeMs, double allReduceMs, double optimizerMs, double lastLoss,
                         long paramsHash) {
        ObjectNode json(double tokensPerStep) {
            ObjectNode n = BenchCommand.JSON.createObjectNode();
            n.put("ms_per_step", msPerStep).put("compute_ms", computeMs).put("allreduce_ms", allReduceMs)
                    .put("optimizer_ms", optimizerMs).put("tokens_per_s", tokensPerStep * 1000 / msPerStep)
                    .put("last_loss", lastLoss).put("params_crc32", Long.toHexString(paramsHash));
            return n;
        }
    }

    /**
     * {@code --ranks N}: the same global batch (N micro-batches of --batch windows) per step, in one process and over
     * N ranks as threads on a loopback ring, as {@code TrainJob.across} runs them; both end on the same loss.
     */
    private int dataParallel() throws Exception {
        ShardManifest manifest = ShardManifest.read(prepDir);
        GptConfig config = config(layers, manifest.tokenizer().vocabSize());
        Gpt.Batch[][] batches = new Gpt.Batch[steps][ranks];
        try (TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
            for (int s = 0; s < steps; s++) {
                for (int m = 0; m < ranks; m++) {
                    batches[s][m] = train.randomBatch(gpt.seed, s, m, gpt.batch, gpt.block);
                }
            }
        }
        Split one = steps(config, batches, null, "float");
        Split many = overRanks(config, batches, "float");
        Split oneExact = steps(config, batches, null, "exact");
        Split manyExact = overRanks(config, batches, "exact");
        Gpt.Batch[] flat = new Gpt.Batch[steps * ranks];
        for (int s = 0; s < steps; s++) {
            System.arraycopy(batches[s], 0, flat, s * ranks, ranks);
        }
        ObjectNode c = peerConfig(config).put("ranks", ranks);
        JsonNode peer = gpt.runPeer("torch_ddp_bench.py", flat, c);
        double tokensPerStep = (double) ranks * gpt.batch * gpt.block;
        ObjectNode f = BenchCommand.JSON.createObjectNode();
        f.put("benchmark", "train-ranks");
        f.put("ranks", ranks);
        f.put("transport", "TCP loopback, ranks as threads of one JVM");
        f.put("cores", Runtime.getRuntime().availableProcessors());
        f.put("parameters", config.parameterCount());
        f.put("gradient_mb", config.parameterCount() * 4 / 1e6);
        f.put("global_batch_windows", ranks * gpt.batch);
        f.put("timed_steps", steps - warmup);
        f.set("one_process", one.json(tokensPerStep));
        f.set("ranks_" + ranks, many.json(tokensPerStep));
        double ratio = one.msPerStep() / many.msPerStep();
        f.put("ratio_tokens_per_s_ranks_over_one", ratio);
        // distributed.sum exact: fixed-point integers, the same weights for 1 process and N ranks
        f.set("one_process_exact", oneExact.json(tokensPerStep));
        f.set("ranks_" + ranks + "_exact", manyExact.json(tokensPerStep));
        double exactRatio = many.msPerStep() / manyExact.msPerStep();
        f.put("ratio_exact_over_float_ranks", exactRatio);
        f.put("ratio_exact_over_float_one_process", one.msPerStep() / oneExact.msPerStep());
        boolean identical = oneExact.paramsHash() == manyExact.paramsHash();
        f.put("exact_bit_identical_one_and_ranks", identical);
        ObjectNode t = f.putObject("pytorch_ddp");
        peer.fields().forEachRemaining(e -> t.set(e.getKey(), e.getValue()));
        double peerRatio = peer.get("ms_per_step").asDouble() / many.msPerStep();
        f.put("ratio_distillery_over_pytorch_ddp", peerRatio);
        BenchCommand.write(gpt.benchDir, "train-ranks.json", f);
        System.out.printf("bench train --ranks %d: one process %.1f ms/step (%.0f tokens/s); %d ranks %.1f ms/step"
                        + " (%.0f tokens/s: compute %.1f, all-reduce %.1f incl. waiting for the slower rank, of %.1f MB,"
                        + " optimizer %.1f ms), %.2fx of one process; PyTorch %s DDP (gloo) %.1f ms/step (%.0f"
                        + " tokens/s), ratio %.2fx (%d cores, %d timed steps, last loss %.4f / %.4f / %.4f);"
                        + " exact sum %.1f ms/step over ranks, %.2fx of float (one process %.2fx), weights %s%n",
                ranks, one.msPerStep(), tokensPerStep * 1000 / one.msPerStep(), ranks, many.msPerStep(),
                tokensPerStep * 1000 / many.msPerStep(), many.computeMs(), many.allReduceMs(),
                config.parameterCount() * 4 / 1e6, many.optimizerMs(), ratio, peer.get("torch_version").asText(),
                peer.get("ms_per_step").asDouble(), peer.get("tokens_per_s").asDouble(), peerRatio,
                Runtime.getRuntime().availableProcessors(), steps - warmup, one.lastLoss(), many.lastLoss(),
                peer.get("last_loss").asDouble(), manyExact.msPerStep(), exactRatio,
                one.msPerStep() / oneExact.msPerStep(), identical ? "bit-identical to one process"
                        : "DIFFER from one process");
        return 0;
    }

    /**
     * {@code --ranks N --pinned}: N rank processes, rank r pinned to core r, on a loopback ring, against one process
     * pinned to core 0 running rank 0's micro-batch alone: the same work per rank and step, so the scaling efficiency
     * is one core's time per step over the ranks' (tokens/s of N ranks over N times one core's). The peer: PyTorch
     * DDP (gloo), each process pinned to its core with one thread, against one pinned process.
     */
    private int pinnedRanks() throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        if (ranks < 2 || ranks > cores) {
            throw new DistilleryException("--pinned needs --ranks N with 2 <= N <= the cores this process may use ("
                    + cores + "), found " + ranks);
        }
        if (!new java.io.File("/usr/bin/taskset").canExecute() && !new java.io.File("/bin/taskset").canExecute()) {
            throw new DistilleryException("--pinned runs each rank under taskset (util-linux), which is not"
                    + " installed here");
        }
        Path dir = java.nio.file.Files.createTempDirectory("distillery-pinned-ranks");
        try {
            JsonNode one = pinnedProcesses(1, dir.resolve("one"));
            JsonNode many = pinnedProcesses(ranks, dir.resolve("ranks"));
            ShardManifest manifest = ShardManifest.read(prepDir);
            GptConfig config = config(layers, manifest.tokenizer().vocabSize());
            Gpt.Batch[][] batches = batches(manifest);
            Gpt.Batch[] flat = new Gpt.Batch[steps * ranks];
            Gpt.Batch[] first = new Gpt.Batch[steps];
            for (int s = 0; s < steps; s++) {
                System.arraycopy(batches[s], 0, flat, s * ranks, ranks);
                first[s] = batches[s][0];
            }
            JsonNode peerOne = gpt.runPeer("torch_ddp_bench.py", first,
                    peerConfig(config).put("ranks", 1).put("pinned", true));
            JsonNode peerMany = gpt.runPeer("torch_ddp_bench.py", flat,
                    peerConfig(config).put("ranks", ranks).put("pinned", true));
            double efficiency = one.get("ms_per_step").asDouble() / many.get("ms_per_step").asDouble();
            double peerEfficiency = peerOne.get("ms_per_step").asDouble() / peerMany.get("ms_per_step").asDouble();
            ObjectNode f = BenchCommand.JSON.createObjectNode();
            f.put("benchmark", "train-ranks-pinned");
            f.put("ranks", ranks);
            f.put("transport", "TCP loopback, a process per rank, each pinned to its own core");
            f.put("parameters", config.parameterCount());
            f.put("timed_steps", steps - warmup);
            ObjectNode d = f.putObject("distillery");
            d.set("one_core", one);
            d.set("ranks_" + ranks, many);
            d.put("scaling_efficiency", efficiency);
            ObjectNode t = f.putObject("pytorch");
            t.set("one_core", peerOne);
            t.set("ranks_" + ranks, peerMany);
            t.put("scaling_efficiency", peerEfficiency);
            f.put("ratio_efficiency_distillery_over_pytorch", efficiency / peerEfficiency);
            BenchCommand.write(gpt.benchDir, "train-ranks-pinned.json", f);
            System.out.printf("bench train --ranks %d --pinned: distillery one core %.1f ms/step, %d ranks %.1f ms/step,"
                            + " scaling efficiency %.2f; PyTorch DDP one core %.1f, %d ranks %.1f ms/step, efficiency"
                            + " %.2f; ratio of efficiencies %.2fx (%d timed steps)%n", ranks,
                    one.get("ms_per_step").asDouble(), ranks, many.get("ms_per_step").asDouble(), efficiency,
                    peerOne.get("ms_per_step").asDouble(), ranks, peerMany.get("ms_per_step").asDouble(),
                    peerEfficiency, efficiency / peerEfficiency, steps - warmup);
            return 0;
        } finally {
            org.distillery.core.io.Directories.deleteRecursively(dir);
        }
    }

    /** The step's batches: micro-batch m of step s is {@code randomBatch(seed, s, m)}, as dataParallel's. */
    private Gpt.Batch[][] batches(ShardManifest manifest) throws java.io.IOException {
        Gpt.Batch[][] batches = new Gpt.Batch[steps][ranks];
        try (TokenWindows train = TokenWindows.open(prepDir, manifest, "train")) {
            for (int s = 0; s < steps; s++) {
                for (int m = 0; m < ranks; m++) {
                    batches[s][m] = train.randomBatch(gpt.seed, s, m, gpt.batch, gpt.block);
                }
            }
        }
        return batches;
    }

    /**
     * {@code n} rank processes of this benchmark, rank r under {@code taskset -c r}, meeting in {@code dir}; rank 0's
     * figures (the line of JSON it prints last).
     */
    private JsonNode pinnedProcesses(int n, Path dir) throws Exception {
        java.nio.file.Files.createDirectories(dir);
        java.nio.file.Files.write(dir.resolve("secret"), org.distillery.core.collective.RingEndpoint.newSecret());
        List<String> own = new java.util.ArrayList<>();
        // the whole command line's arguments: this command's own follow "bench train"
        List<String> original = spec.commandLine().getParseResult().originalArgs();
        int from = original.indexOf(spec.name()) + 1;
        for (int i = from; i < original.size(); i++) {
            String a = original.get(i);
            if (a.equals("--pinned")) {
                continue;
            }
            if (a.equals("--ranks")) {
                i++;
                continue;
            }
            if (!a.startsWith("--ranks=")) {
                own.add(a);
            }
        }
        List<org.distillery.core.process.ChildProcess> children = new java.util.ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<String> cmd = new java.util.ArrayList<>(List.of("taskset", "-c", String.valueOf(r),
                    Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Distillery.class.getName(), "bench",
                    "train"));
            cmd.addAll(own);
            cmd.addAll(List.of("--ranks", String.valueOf(n), "--as-rank", String.valueOf(r), "--rendezvous",
                    dir.toString()));
            children.add(org.distillery.core.process.ChildProcess.start(new ProcessBuilder(cmd), "rank " + r + " of "
                    + n, line -> {
                        if (!line.startsWith("WARNING: Using incubator modules")) {
                            System.err.println(line);
                        }
                    }));
        }
        JsonNode first = null;
        for (int r = 0; r < n; r++) {
            org.distillery.core.process.ChildProcess.Result res = children.get(r).await(BenchCommand.PEER_TIMEOUT);
            if (res.exitCode() != 0) {
                throw new DistilleryException("bench train --pinned: rank " + r + " of " + n + " failed (exit "
                        + res.exitCode() + "); its errors are above");
            }
            if (r == 0) {
                List<String> lines = res.stdout().strip().lines().toList();
                first = BenchCommand.JSON.readTree(lines.get(lines.size() - 1));
            }
        }
        return first;
    }

    /**
     * One rank of --pinned (hidden --as-rank r): listens on loopback, publishes its address in the rendezvous folder,
     * waits for the others', joins the ring (or, alone, runs without one) and prints its figures as one JSON line.
     */
    private int rankProcess() throws Exception {
        ShardManifest manifest = ShardManifest.read(prepDir);
        GptConfig config = config(layers, manifest.tokenizer().vocabSize());
        Gpt.Batch[][] batches = batches(manifest);
        Split split;
        if (ranks == 1) {
            split = steps(config, batches, null, "float");
        } else {
            try (org.distillery.core.collective.RingEndpoint endpoint = org.distillery.core.collective.RingEndpoint
                    .listen(java.net.InetAddress.getLoopbackAddress())) {
                java.net.InetSocketAddress mine = endpoint.address();
                org.distillery.core.io.AtomicFile.write(rendezvous.resolve("rank-" + asRank),
                        (mine.getHostString() + ":" + mine.getPort()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                List<java.net.InetSocketAddress> addresses = new java.util.ArrayList<>();
                long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(2);
                for (int r = 0; r < ranks; r++) {
                    Path f = rendezvous.resolve("rank-" + r);
                    while (!java.nio.file.Files.exists(f)) {
                        if (System.nanoTime() > deadline) {
                            throw new DistilleryException("rank " + asRank + ": rank " + r + " did not publish its"
                                    + " address in " + rendezvous + " within 2 minutes");
                        }
                        Thread.sleep(10);
                    }
                    String[] hostPort = java.nio.file.Files.readString(f).strip().split(":");
                    addresses.add(new java.net.InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])));
                }
                byte[] secret = java.nio.file.Files.readAllBytes(rendezvous.resolve("secret"));
                try (org.distillery.core.collective.RingAllReduce ring = endpoint.join(asRank, addresses, secret,
                        org.distillery.core.collective.RingAllReduce.Settings.defaults())) {
                    split = steps(config, batches, ring, "float");
                }
            }
        }
        System.out.println(split.json((double) gpt.batch * gpt.block));
        return 0;
    }

    /** The steps over {@link #ranks} ranks as threads on a loopback ring; rank 0's figures. */
    private Split overRanks(GptConfig config, Gpt.Batch[][] batches, String sum) throws Exception {
        List<java.net.InetSocketAddress> addresses = new java.util.ArrayList<>();
        List<org.distillery.core.collective.RingEndpoint> endpoints = new java.util.ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            endpoints.add(org.distillery.core.collective.RingEndpoint.listen(java.net.InetAddress.getLoopbackAddress()));
            addresses.add(endpoints.get(r).address());
        }
        byte[] secret = org.distillery.core.collective.RingEndpoint.newSecret();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(ranks);
        try {
            List<java.util.concurrent.Future<Split>> futures = new java.util.ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    try (org.distillery.core.collective.RingAllReduce ring = endpoints.get(rank).join(rank, addresses,
                            secret, org.distillery.core.collective.RingAllReduce.Settings.defaults())) {
                        return steps(config, batches, ring, sum);
                    }
                }));
            }
            for (java.util.concurrent.Future<Split> f : futures) {
                f.get();
            }
            return futures.get(0).get();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The steps of one process ({@code ring} null: every micro-batch here) or of one rank of a ring (its micro-batches,
     * then the gradient and loss summed over the ring by the {@code sum} TrainJob's distributed.sum names), each
     * followed by AdamW with clipping.
     */
    private Split steps(GptConfig config, Gpt.Batch[][] batches, org.distillery.core.collective.RingAllReduce ring,
                        String sum) throws java.io.IOException {
        GptParameters params = GptParameters.initialize(config, gpt.seed);
        GptParameters grads = GptParameters.zeros(config);
        Gpt model = new Gpt(params);
        AdamW adam = new AdamW(params, GptBenchOptions.BETA1, GptBenchOptions.BETA2, GptBenchOptions.EPS,
                GptBenchOptions.WEIGHT_DECAY);
        org.distillery.model.train.DataParallel parallel = ring == null ? org.distillery.model.train.DataParallel.SINGLE
                : org.distillery.model.train.DataParallel.over(ring);
        int micro = batches[0].length;
        org.distillery.model.train.GradientSum gradients = org.distillery.model.train.GradientSum.named(sum,
                org.distillery.model.train.GradientSum.buffers(grads.flat(), null), micro);
        long compute = 0;
        long reduce = 0;
        long optimize = 0;
        long started = 0;
        double loss = Double.NaN;
        for (int s = 0; s < steps; s++) {
            if (s == warmup) {
                started = System.nanoTime();
                compute = 0;
                reduce = 0;
                optimize = 0;
            }
            long t0 = System.nanoTime();
            for (int m = parallel.rank(); m < micro; m += parallel.ranks()) {
                double l = model.lossAndGradient(batches[s][m], grads, 1.0 / micro, s * 31L + m) / micro;
                gradients.add(s, m, l, Map.of());
            }
            long t1 = System.nanoTime();
            loss = gradients.finish(parallel, List.of())[0];
            long t2 = System.nanoTime();
            adam.step(params.flat(), grads.flat(), GptBenchOptions.LR, GptBenchOptions.CLIP);
            long t3 = System.nanoTime();
            compute += t1 - t0;
            reduce += t2 - t1;
            optimize += t3 - t2;
        }
        int timed = steps - warmup;
        return new Split((System.nanoTime() - started) / 1e6 / timed, compute / 1e6 / timed, reduce / 1e6 / timed,
                optimize / 1e6 / timed, loss, params.hash());
    }

    /** The training step of TrainJob, without checkpoints or tracking: forward+backward, then AdamW with clipping. */
    private Side runDistillery(GptConfig config, Gpt.Batch[] batches) {
        GptParameters params = GptParameters.initialize(config, gpt.seed);
        GptParameters grads = GptParameters.zeros(config);
        Gpt model = new Gpt(params, org.distillery.model.MatmulPrecision.resolve(precision,
                why -> System.err.println("bench train --precision bf16: " + why)));
        AdamW adam = new AdamW(params, GptBenchOptions.BETA1, GptBenchOptions.BETA2, GptBenchOptions.EPS,
                GptBenchOptions.WEIGHT_DECAY);
        double first = Double.NaN;
        double last = Double.NaN;
        long started = 0;
        for (int s = 0; s < steps; s++) {
            if (s == warmup) {
                started = System.nanoTime();
            }
            last = model.lossAndGradient(batches[s], grads, 1.0, s);
            // leaves grads zero for the next step
            adam.step(params.flat(), grads.flat(), GptBenchOptions.LR, GptBenchOptions.CLIP);
            if (s == 0) {
                first = last;
            }
        }
        double ms = (System.nanoTime() - started) / 1e6 / (steps - warmup);
        return new Side(ms, first, last, model.engine());
    }
}
