#!/usr/bin/python3
"""The benchmark's PyTorch peer: a plain Llama decoder on the CPU (float32).

Spawned by the model and embed suites of bench/run.ts (npm run bench) with the
model's config.json (HF layout, written by toHfConfig), before our side opens
its Dawn instance. Weights are random (seed 0): the work does not depend on the
values. Measures the same steps as ours and prints one JSON line:

  {"peer": "pytorch", "version": ..., "threads": ..., "B": ..., "T": ...,
   "blas": ..., "results": {"forward": {"ms": ..., "iters": ...}, ...}}

Token-level steps (model suite; random tokens, B windows of T, --batch, --seq):
  forward           final hidden states [B, T, C] (through the final norm), no autograd
  forward_loss      forward + logits over all B*T positions + mean cross-entropy, no autograd
  train_lora        LoRA step: base frozen, rank-r adapters on all seven linears with
                    dropout on the adapter input; forward, loss, backward, clip the
                    global grad norm to 1, AdamW
  train_full        full step: every weight trainable (weight decay on matrices only)

Embedding steps (embed suite; the exact token ids ours uses, from --batch-file):
  embed             every batch of "embed" through the forward (no autograd), the
                    last token's final hidden state, L2-normalised; one call = all
                    batches
  contrastive_lora  one LoRA step on the "contrastive" triplets: embed (as above,
                    with autograd, LoRA dropout on) every batch of "anchors" and of
                    "candidates", a = anchors [B, C], c = candidates [M, C] in order;
                    InfoNCE one way at --temperature: cross-entropy of a c^T / t
                    with anchor i's target candidate i; backward, clip to norm 1,
                    AdamW. One autograd forward per sequence (ours, GradCache,
                    embeds and then replays each mini-batch: two forwards).

--batch-file JSON (written by bench/suites/embed.ts):
  {"embed": [BATCH, ...],
   "contrastive": {"anchors": [BATCH, ...], "candidates": [BATCH, ...]}}
  BATCH = {"ids": [[int] * T] * B, "mask": [[0|1] * T] * B, "pos": [[int] * T] * B}:
  one left-padded batch as ours uploads it (src/embed/batch.ts padLeft): mask 1
  on real tokens, pos counting real tokens from 0 (padding rows: 0). Candidates
  are the B positives, then the B hard negatives (candidate i is anchor i's
  positive). Either key may be absent when its mode is not asked for.

The model, written from the HF modelling code's formulas (no transformers):
  x = embed[ids]
  per layer:
    h1 = rmsnorm(x) * w1;  q, k = rope(h1 Wq^T, h1 Wk^T, pos);  v = h1 Wv^T
    o = softmax(q k^T / sqrt(D) + causal + padding) v   (GQA: each KV head serves H/Hkv query heads)
    x1 = x + o Wo^T;  h2 = rmsnorm(x1) * w2;  x2 = x1 + (silu(h2 Wg^T) * h2 Wu^T) Wd^T
  final = rmsnorm(x) * w;  logits = final head^T   (head = embed when tied)
  LoRA linear: y = x W^T + (alpha / r) * dropout(x) A^T B^T,  A [r, in], B [out, r]
Masked scores get float32's lowest value, not -inf (as HF does): a padding
query row, which sees no real key, then stays finite and its zero gradient
cannot turn into NaN. Attention is explicit matmul + softmax: torch 1.13 has no
scaled_dot_product_attention.

Timing: one warm-up step, then steps until at least 3 and at least --time-ms
milliseconds; the mean wall time of one step (CPU ops are synchronous).
Run by hand: /usr/bin/python3 bench/peers/torch_decoder.py --config config.json --batch 16 --seq 64
"""
import argparse
import json
import math
import os
import re
import sys
import time

import torch
import torch.nn.functional as F

MODES = ("forward", "forward_loss", "train_lora", "train_full", "embed", "contrastive_lora")
BATCH_MODES = ("embed", "contrastive_lora")


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Linear(torch.nn.Module):
    """y = x W^T (+ b), optionally + scale * dropout(x) A^T B^T (LoRA)."""

    def __init__(self, out_f, in_f, bias, std):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_f, in_f) * std)
        self.bias = torch.nn.Parameter(torch.zeros(out_f)) if bias else None
        self.lora_A = None
        self.lora_B = None

    def add_lora(self, r, alpha, dropout):
        out_f, in_f = self.weight.shape
        bound = 1 / math.sqrt(in_f)  # PEFT: kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in))
        self.lora_A = torch.nn.Parameter(torch.empty(r, in_f).uniform_(-bound, bound))
        self.lora_B = torch.nn.Parameter(torch.zeros(out_f, r))
        self.scale = alpha / r
        self.p = dropout

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora_A is not None:
            y = y + self.scale * F.linear(F.linear(F.dropout(x, self.p, self.training), self.lora_A), self.lora_B)
        return y


class Layer(torch.nn.Module):
    def __init__(self, c, std):
        super().__init__()
        C, F_, H, Hkv, D = c["C"], c["F"], c["H"], c["Hkv"], c["D"]
        self.input_layernorm = torch.nn.Parameter(torch.ones(C))
        self.q_proj = Linear(H * D, C, c["qkv_bias"], std)
        self.k_proj = Linear(Hkv * D, C, c["qkv_bias"], std)
        self.v_proj = Linear(Hkv * D, C, c["qkv_bias"], std)
        self.o_proj = Linear(C, H * D, c["o_bias"], std)
        self.post_attention_layernorm = torch.nn.Parameter(torch.ones(C))
        self.gate_proj = Linear(F_, C, c["mlp_bias"], std)
        self.up_proj = Linear(F_, C, c["mlp_bias"], std)
        self.down_proj = Linear(C, F_, c["mlp_bias"], std)

    def linears(self):
        return [self.q_proj, self.k_proj, self.v_proj, self.o_proj, self.gate_proj, self.up_proj, self.down_proj]

    def forward(self, x, cos, sin, allowed, c):
        B, T, C = x.shape
        H, Hkv, D = c["H"], c["Hkv"], c["D"]
        h1 = rms_norm(x, self.input_layernorm, c["eps"])
        q = self.q_proj(h1).view(B, T, H, D).transpose(1, 2)  # [B, H, T, D]
        k = self.k_proj(h1).view(B, T, Hkv, D).transpose(1, 2)  # [B, Hkv, T, D]
        v = self.v_proj(h1).view(B, T, Hkv, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: query head h reads KV head h // (H / Hkv) (HF's repeat_kv)
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)  # [B, H, T, T]
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        o = torch.softmax(scores, dim=-1) @ v  # [B, H, T, D]
        x1 = x + self.o_proj(o.transpose(1, 2).reshape(B, T, H * D))
        h2 = rms_norm(x1, self.post_attention_layernorm, c["eps"])
        return x1 + self.down_proj(F.silu(self.gate_proj(h2)) * self.up_proj(h2))


class Decoder(torch.nn.Module):
    def __init__(self, c, std=0.02):
        super().__init__()
        self.c = c
        self.embed = torch.nn.Parameter(torch.randn(c["V"], c["C"]) * std)
        self.layers = torch.nn.ModuleList([Layer(c, std) for _ in range(c["L"])])
        self.norm = torch.nn.Parameter(torch.ones(c["C"]))
        self.lm_head = None if c["tied"] else torch.nn.Parameter(torch.randn(c["V"], c["C"]) * std)

    def head(self):
        return self.embed if self.lm_head is None else self.lm_head

    def forward(self, ids, pos=None, mask=None):
        """ids [B, T] -> final hidden states [B, T, C] (after the final norm).
        pos [B, T]: rotary positions (default 0..T-1); mask [B, T]: 1 on real
        tokens, 0 on (left) padding, which no query attends to (default: none)."""
        B, T = ids.shape
        D = self.c["D"]
        if pos is None:
            pos = torch.arange(T)[None, :]  # [1, T]
        inv_freq = 1.0 / (self.c["theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = pos.to(torch.float32)[..., None] * inv_freq  # [B or 1, T, D/2]
        emb = torch.cat((freqs, freqs), dim=-1)[:, None]  # [B or 1, 1, T, D]
        cos, sin = emb.cos(), emb.sin()  # broadcast over [B, H, T, D]
        allowed = torch.ones(T, T, dtype=torch.bool).tril()  # key <= query
        if mask is not None:
            allowed = allowed & mask.bool()[:, None, None, :]  # [B, 1, T, T]: real keys only
        x = self.embed[ids]
        for layer in self.layers:
            x = layer(x, cos, sin, allowed, self.c)
        return rms_norm(x, self.norm, self.c["eps"])

    def embed_batch(self, batch):
        """A left-padded batch -> the last real token's final state, L2-normalised [B, C]."""
        final = self(batch["ids"], batch["pos"], batch["mask"])
        last = batch["mask"].shape[1] - 1 - batch["mask"].flip(1).argmax(1)  # the last 1 of each row
        pooled = final[torch.arange(final.shape[0]), last]
        return F.normalize(pooled, dim=-1)

    def loss(self, ids, targets):
        final = self(ids)
        logits = final @ self.head().t()  # [B, T, V]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def parse_config(raw):
    H = raw["num_attention_heads"]
    C = raw["hidden_size"]
    qwen2 = raw.get("model_type") == "qwen2"
    attention_bias = raw.get("attention_bias", False)
    return {
        "C": C, "F": raw["intermediate_size"], "L": raw["num_hidden_layers"], "H": H,
        "Hkv": raw.get("num_key_value_heads") or H, "D": raw.get("head_dim") or C // H,
        "V": raw["vocab_size"], "eps": raw.get("rms_norm_eps", 1e-6), "theta": raw.get("rope_theta", 10000.0),
        "tied": raw.get("tie_word_embeddings", False),
        "qkv_bias": True if qwen2 else attention_bias, "o_bias": False if qwen2 else attention_bias,
        "mlp_bias": False if qwen2 else raw.get("mlp_bias", False),
    }


def blas_library():
    """The BLAS shared library this process loaded (Debian's torch uses whichever
    libblas.so.3 the alternatives system points at: netlib's reference BLAS is
    several times slower than OpenBLAS), or torch's BLAS_INFO when none shows."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if re.search(r"lib(open)?blas|libblis|libmkl", line)})
        if libs:
            return ", ".join(os.path.realpath(p) for p in libs)
    except OSError:
        pass
    m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


def measure(step, min_ms, min_iters=3):
    step()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start) * 1000 < min_ms:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"ms": 1000 * sum(times) / len(times), "iters": len(times)}


def adamw(params, a):
    # Weight decay on matrices only, as ours (src/train/optimizer.ts).
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=a.lr, betas=(0.9, a.beta2), eps=1e-8)


def train_step(model, params, opt, loss_fn):
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()  # ours reads its loss back too


def add_lora(model, a):
    """Freezes the base and puts fresh adapters on all seven linears; returns their parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        for lin in layer.linears():
            lin.add_lora(a.lora_r, a.lora_alpha, a.lora_dropout)
    return [p for layer in model.layers for lin in layer.linears() for p in (lin.lora_A, lin.lora_B)]


def drop_lora(model):
    for layer in model.layers:
        for lin in layer.linears():
            lin.lora_A = lin.lora_B = None


def read_batches(path):
    """The --batch-file JSON (see the header), every BATCH as int64 tensors."""
    with open(path) as f:
        raw = json.load(f)

    def batch(b, where):
        out = {k: torch.tensor(b[k], dtype=torch.int64) for k in ("ids", "mask", "pos")}
        shapes = {k: tuple(v.shape) for k, v in out.items()}
        if len(set(shapes.values())) != 1 or len(shapes["ids"]) != 2:
            sys.exit(f"torch_decoder.py: {path}: {where}: ids, mask and pos must be equal [B, T] lists, got {shapes}")
        return out

    res = {"embed": [batch(b, f"embed[{i}]") for i, b in enumerate(raw.get("embed", []))]}
    con = raw.get("contrastive")
    if con is not None:
        res["anchors"] = [batch(b, f"contrastive.anchors[{i}]") for i, b in enumerate(con["anchors"])]
        res["candidates"] = [batch(b, f"contrastive.candidates[{i}]") for i, b in enumerate(con["candidates"])]
    return res


def info_nce(model, anchors, candidates, temperature):
    a = torch.cat([model.embed_batch(b) for b in anchors])  # [B, C]
    c = torch.cat([model.embed_batch(b) for b in candidates])  # [M, C]
    logits = a @ c.t() / temperature  # [B, M]
    return F.cross_entropy(logits, torch.arange(a.shape[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="HF config.json of the model")
    ap.add_argument("--batch", type=int, default=0, help="token-level modes: windows per step")
    ap.add_argument("--seq", type=int, default=0, help="token-level modes: tokens per window")
    ap.add_argument("--batch-file", help="embedding modes: the token id batches (JSON, see the header)")
    ap.add_argument("--time-ms", type=float, default=3000)
    ap.add_argument("--modes", default=",".join(m for m in MODES if m not in BATCH_MODES))
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=float, default=16)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            sys.exit(f"torch_decoder.py: unknown mode {m!r} (expected some of {', '.join(MODES)})")
    token_modes = [m for m in modes if m not in BATCH_MODES]
    if token_modes and (a.batch < 1 or a.seq < 1):
        sys.exit(f"torch_decoder.py: modes {', '.join(token_modes)} need --batch and --seq >= 1")
    if any(m in BATCH_MODES for m in modes) and not a.batch_file:
        sys.exit("torch_decoder.py: modes embed and contrastive_lora need --batch-file")

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(a.seed)
    with open(a.config) as f:
        c = parse_config(json.load(f))
    model = Decoder(c)
    g = torch.Generator().manual_seed(a.seed)
    tokens = torch.randint(0, c["V"], (max(a.batch, 1), max(a.seq, 1) + 1), generator=g)
    ids, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    batches = read_batches(a.batch_file) if a.batch_file else {}
    if "contrastive_lora" in modes and "anchors" not in batches:
        sys.exit(f"torch_decoder.py: {a.batch_file} has no \"contrastive\" batches for mode contrastive_lora")
    if "embed" in modes and not batches.get("embed"):
        sys.exit(f"torch_decoder.py: {a.batch_file} has no \"embed\" batches for mode embed")

    results = {}
    # Order: inference, then LoRA (base untouched), then full training (changes the weights);
    # the embedding modes (their own runs) come last.
    for mode in [m for m in MODES if m in modes]:
        if mode == "forward":
            model.eval()
            with torch.inference_mode():
                results[mode] = measure(lambda: model(ids), a.time_ms)
        elif mode == "forward_loss":
            model.eval()
            with torch.inference_mode():
                results[mode] = measure(lambda: model.loss(ids, targets), a.time_ms)
        elif mode == "train_lora":
            model.train()
            params = add_lora(model, a)
            opt = adamw(params, a)
            results[mode] = measure(lambda: train_step(model, params, opt, lambda: model.loss(ids, targets)), a.time_ms)
            drop_lora(model)
            del opt, params
        elif mode == "train_full":
            model.train()
            params = list(model.parameters())
            for p in params:
                p.requires_grad_(True)
            opt = adamw(params, a)
            results[mode] = measure(lambda: train_step(model, params, opt, lambda: model.loss(ids, targets)), a.time_ms)
        elif mode == "embed":
            model.eval()
            with torch.inference_mode():
                results[mode] = measure(lambda: [model.embed_batch(b) for b in batches["embed"]], a.time_ms)
        elif mode == "contrastive_lora":
            model.train()
            params = add_lora(model, a)
            opt = adamw(params, a)
            step = lambda: info_nce(model, batches["anchors"], batches["candidates"], a.temperature)
            results[mode] = measure(lambda: train_step(model, params, opt, step), a.time_ms)
            drop_lora(model)
            del opt, params

    print(json.dumps({
        "peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "blas": blas_library(), "B": a.batch, "T": a.seq, "results": results,
    }))


if __name__ == "__main__":
    main()
