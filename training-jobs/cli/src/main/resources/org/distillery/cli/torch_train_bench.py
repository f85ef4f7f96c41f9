"""PyTorch peer of `distillery bench train` and `bench distill`: the same GPT-2, optimizer and batches,
timed the same way.

Usage: torch_train_bench.py BATCHES.bin CONFIG.json
BATCHES.bin holds int32 [steps, batch, block_size + 1] token windows written by the Java side; every
step trains on exactly the window Distillery trained on. With a "teacher" shape in CONFIG, each step
also runs that teacher (no gradients) and the loss is kd_ratio * T^2 * KL(teacher || student at T) +
(1 - kd_ratio) * cross-entropy, as Distillery's forward_kl. Prints one JSON line of figures.
"""
import json
import math
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["n_embd"]
        self.n_head = c["n_head"]
        self.ln_1 = nn.LayerNorm(e, eps=1e-5)
        self.c_attn = nn.Linear(e, 3 * e)
        self.c_proj = nn.Linear(e, e)
        self.ln_2 = nn.LayerNorm(e, eps=1e-5)
        self.c_fc = nn.Linear(e, 4 * e)
        self.mlp_proj = nn.Linear(4 * e, e)

    def forward(self, x):
        b, t, e = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(e, dim=2)
        q, k, v = (z.view(b, t, self.n_head, e // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, e))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    """GPT-2 as nanoGPT writes it: the architecture Distillery trains, tied LM head, no dropout."""

    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.wpe = nn.Embedding(c["block_size"], c["n_embd"])
        self.h = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=1e-5)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["n_layer"]) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return logits.view(-1, logits.size(-1))


def adamw(model, c):
    """AdamW as Distillery's: weight decay on the matrices but the embeddings, none on the rest."""
    named = list(model.named_parameters())
    decay = [p for n, p in named if p.dim() == 2 and not n.startswith(("wte", "wpe"))]
    rest = [p for n, p in named if not (p.dim() == 2 and not n.startswith(("wte", "wpe")))]
    return torch.optim.AdamW([{"params": decay, "weight_decay": c["weight_decay"]},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"], foreach=True)


def distill_loss(student, teacher, targets, c):
    """Forward KL at temperature T with the T^2 scaling, mixed with cross-entropy by kd_ratio."""
    t = c["temperature"]
    kd = F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1), log_target=True,
                  reduction="batchmean")
    ce = F.cross_entropy(student, targets)
    return c["kd_ratio"] * t * t * kd + (1 - c["kd_ratio"]) * ce


def main():
    batches_file, config_file = sys.argv[1], sys.argv[2]
    c = json.load(open(config_file))
    torch.set_num_threads(c["threads"])
    torch.manual_seed(c["seed"])
    windows = np.fromfile(batches_file, dtype=np.int32).reshape(c["steps"], c["batch_size"], c["block_size"] + 1)
    data = torch.from_numpy(windows.astype(np.int64))
    model = Gpt(c)
    teacher = None
    if "teacher" in c:
        teacher = Gpt({**c, **c["teacher"]}).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    opt = adamw(model, c)
    losses = []
    started = None
    for step in range(c["steps"]):
        if step == c["warmup"]:
            started = time.perf_counter()
        x, y = data[step, :, :-1], data[step, :, 1:].reshape(-1)
        logits = model(x)
        if teacher is None:
            loss = F.cross_entropy(logits, y)
        else:
            with torch.no_grad():
                teacher_logits = teacher(x)
            loss = distill_loss(logits, teacher_logits, y, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    timed = c["steps"] - c["warmup"]
    tokens = timed * c["batch_size"] * c["block_size"]
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "ms_per_step": seconds * 1000 / timed,
        "tokens_per_s": tokens / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }))


if __name__ == "__main__":
    main()
