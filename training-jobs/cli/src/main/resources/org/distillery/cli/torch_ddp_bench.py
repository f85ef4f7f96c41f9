"""PyTorch peer of `distillery bench train --ranks N`: DistributedDataParallel over N processes on one machine (the
gloo backend on 127.0.0.1, as TorchDistributor runs it on CPU executors), the same GPT-2, optimizer and windows.

Usage: torch_ddp_bench.py BATCHES.bin CONFIG.json
BATCHES.bin holds int32 [steps, ranks, batch, block_size + 1]: rank r trains on micro-batch r of each step, as a
Distillery rank does; DDP averages the gradients (Distillery sums micro-batch losses scaled by 1/N: the same).
Each process gets threads // ranks threads. Prints one JSON line of figures (rank 0's timing).
"""
import json
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train_bench import adamw, make_model, peak_rss_mb  # noqa: E402  (the same model and optimizer as the one-process peer)


def rank_main(rank, c, batches_file, port, results):
    n = c["ranks"]
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    if c.get("pinned"):  # bench train --pinned: each process on its own core, one thread, as Distillery's ranks
        os.sched_setaffinity(0, {rank})
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(max(1, c["threads"] // n))
    dist.init_process_group("gloo", rank=rank, world_size=n)
    torch.manual_seed(c["seed"])
    windows = np.fromfile(batches_file, dtype=np.int32).reshape(c["steps"], n, c["batch_size"], c["block_size"] + 1)
    data = torch.from_numpy(windows[:, rank].astype(np.int64))
    model = DistributedDataParallel(make_model(c))  # rank 0's initial weights are broadcast to every rank
    opt = adamw(model.module, c)
    losses = []
    started = None
    for step in range(c["steps"]):
        if step == c["warmup"]:
            dist.barrier()
            started = time.perf_counter()
        x, y = data[step, :, :-1], data[step, :, 1:].reshape(-1)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces gradient buckets as backward produces them
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        opt.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / n)
    seconds = time.perf_counter() - started
    if rank == 0:
        timed = c["steps"] - c["warmup"]
        results.put({
            "torch_version": torch.__version__,
            "backend": "gloo",
            "ranks": n,
            "threads_per_rank": torch.get_num_threads(),
            "seconds": seconds,
            "ms_per_step": seconds * 1000 / timed,
            "tokens_per_s": timed * n * c["batch_size"] * c["block_size"] / seconds,
            "peak_rss_mb_rank0": peak_rss_mb(),
            "first_loss": losses[0],
            "last_loss": losses[-1],
        })
    dist.destroy_process_group()


def main():
    batches_file, config_file = sys.argv[1], sys.argv[2]
    c = json.load(open(config_file))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(rank_main, args=(c, batches_file, port, results), nprocs=c["ranks"], join=True,
                       start_method="spawn")
    print(json.dumps(results.get()))


if __name__ == "__main__":
    main()
