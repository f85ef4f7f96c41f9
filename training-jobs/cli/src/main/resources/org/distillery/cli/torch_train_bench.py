"""PyTorch peer of `distillery bench train` and `bench distill`: the same GPT-2 (or, with "arch": "llama", the same
Llama-family model), optimizer and batches, timed the same way.

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


def peak_rss_mb():
    """This process's own peak resident set (VmHWM). Not ru_maxrss: Linux starts a child's at its parent's, so a peer
    started by the JVM would report the JVM's peak when that is higher."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


class LlamaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["n_embd"]
        self.n_head = c["n_head"]
        self.n_kv = c["n_kv_head"]
        self.d = e // self.n_head
        self.eps = c["rms_norm_eps"]
        self.input_layernorm = nn.Parameter(torch.ones(e))
        self.qkv_proj = nn.Linear(e, e + 2 * self.n_kv * self.d, bias=c["attention_bias"])
        self.o_proj = nn.Linear(e, e, bias=c["attention_bias"])
        self.post_attention_layernorm = nn.Parameter(torch.ones(e))
        self.inter = c["intermediate_size"]
        self.gate_up_proj = nn.Linear(e, 2 * self.inter, bias=False)
        self.down_proj = nn.Linear(self.inter, e, bias=False)

    def forward(self, x, cos, sin):
        b, t, e = x.shape
        h = F.rms_norm(x, (e,), self.input_layernorm, self.eps)
        q, k, v = self.qkv_proj(h).split([e, self.n_kv * self.d, self.n_kv * self.d], dim=2)
        q = q.view(b, t, self.n_head, self.d).transpose(1, 2)
        k = k.view(b, t, self.n_kv, self.d).transpose(1, 2)
        v = v.view(b, t, self.n_kv, self.d).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv != self.n_head)
        x = x + self.o_proj(y.transpose(1, 2).reshape(b, t, e))
        gate, up = self.gate_up_proj(F.rms_norm(x, (e,), self.post_attention_layernorm, self.eps)).split(self.inter, 2)
        return x + self.down_proj(F.silu(gate) * up)


def rope(x, cos, sin):
    """Rotate-half RoPE, as transformers' apply_rotary_pos_emb."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Llama(nn.Module):
    """The Llama family as LlamaForCausalLM computes it (q/k/v and gate/up fused, F.rms_norm, SDPA with GQA), the
    architecture Distillery trains with model.arch: llama; a separate LM head unless tied, no dropout."""

    def __init__(self, c):
        super().__init__()
        e = c["n_embd"]
        self.eps = c["rms_norm_eps"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], e)
        self.layers = nn.ModuleList(LlamaBlock(c) for _ in range(c["n_layer"]))
        self.norm = nn.Parameter(torch.ones(e))
        self.lm_head = None if c["tie_word_embeddings"] else nn.Linear(e, c["vocab_size"], bias=False)
        d = e // c["n_head"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        angles = torch.outer(torch.arange(c["block_size"]).float(), inv)
        self.register_buffer("cos", torch.cat((angles, angles), dim=-1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat((angles, angles), dim=-1).sin(), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.embed_tokens(idx)
        cos, sin = self.cos[:t], self.sin[:t]
        for block in self.layers:
            x = block(x, cos, sin)
        x = F.rms_norm(x, (x.shape[-1],), self.norm, self.eps)
        logits = F.linear(x, self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight)
        return logits.view(-1, logits.size(-1))


def make_model(c):
    return Llama(c) if c.get("arch") == "llama" else Gpt(c)


def adamw(model, c):
    """AdamW as Distillery's: weight decay on the matrices but the embeddings, none on the rest."""
    named = list(model.named_parameters())
    embeddings = ("wte", "wpe", "embed_tokens")
    decay = [p for n, p in named if p.dim() == 2 and not n.startswith(embeddings)]
    rest = [p for n, p in named if not (p.dim() == 2 and not n.startswith(embeddings))]
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
    model = make_model(c)
    teacher = None
    if "teacher" in c:
        teacher = make_model({**c, **c["teacher"]}).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    opt = adamw(model, c)
    losses = []
    started = None
    for step in range(c["steps"]):
        if step == c["warmup"]:
            started = time.perf_counter()
        x, y = data[step, :, :-1], data[step, :, 1:].reshape(-1)
        # bf16: PyTorch's CPU autocast (linear layers and matmuls in bfloat16, the loss in float32)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=c.get("precision") == "bf16"):
            logits = model(x)
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher(x)
        logits = logits.float()
        if teacher is None:
            loss = F.cross_entropy(logits, y)
        else:
            loss = distill_loss(logits, teacher_logits.float(), y, c)
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
        "precision": c.get("precision", "fp32"),
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "ms_per_step": seconds * 1000 / timed,
        "tokens_per_s": tokens / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }))


if __name__ == "__main__":
    main()
