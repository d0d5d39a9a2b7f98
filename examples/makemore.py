"""makemore: an autoregressive character-level model that makes more of what it is given (one item per line).

    python examples/makemore.py                          # transformer on 88,799 US-Census surnames, 1,500 steps
    python examples/makemore.py --model gru --steps 3000
    python examples/makemore.py --input names.txt --backend numba
    python examples/makemore.py --torch                  # the same model, weights and batches in PyTorch
    python examples/makemore.py --compare                # both, side by side
    python examples/makemore.py --jit                    # the training step captured once and replayed (tg.jit)

The default data is the `dist.all.last` file of the `names` package on PyPI (MIT; `pip install names`,
or the `examples` extra of this project): one upper-case surname per line with frequency columns.
The model code below is written once and run with either library (`lib` is tinygrad_like or torch):
the layers have the same names, arguments and parameter names, so PyTorch's copy starts from
tinygrad_like's initial weights and sees the same batches from tinygrad_like's seeded generator.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.resources
import math
import os
import time
from typing import Any, Optional

import tinygrad_like as tg

MODELS = ("bigram", "mlp", "rnn", "gru", "transformer")


# ---------------------------------------------------------------------- data

def load_words(path: Optional[str] = None) -> list:
    """Lower-case items, one per line: a file, or the surnames of the `names` package."""
    if path is None:
        try:
            text = (importlib.resources.files("names") / "dist.all.last").read_text()
        except ModuleNotFoundError:
            raise SystemExit("the default data is in the `names` package: pip install names "
                             "(or pass --input FILE with one item per line)") from None
    else:
        with open(path) as f:
            text = f.read()
    words = [line.split()[0].lower() for line in text.splitlines() if line.strip()]
    return [w for w in words if w]


class CharData:
    """Items encoded as in makemore: x = [0, c1, ..., cn, 0...], y = [c1, ..., cn, 0, -1...] (0 = start/end,
    -1 = padding that cross_entropy ignores), both block_size long."""

    def __init__(self, words: list, chars: list, block_size: int):
        self.stoi = {c: i + 1 for i, c in enumerate(chars)}
        self.itos = {i: c for c, i in self.stoi.items()}
        self.block_size = block_size
        self.x, self.y = [], []
        for w in words:
            ix = [self.stoi[c] for c in w]
            self.x.append(([0] + ix + [0] * block_size)[:block_size])
            self.y.append((ix + [0] + [-1] * block_size)[:block_size])

    def decode(self, ix: list) -> str:
        return "".join(self.itos[i] for i in ix)


def split(words: list, seed: int) -> tuple:
    """(train words, test words): a seeded permutation, test = min(1000, 10%) as in makemore."""
    n_test = min(1000, len(words) // 10)
    order = tg.randperm(len(words), generator=tg.Generator(seed)).tolist()
    return [words[i] for i in order[n_test:]], [words[i] for i in order[:n_test]]


# ---------------------------------------------------------------------- models (one code for both libraries)

def build_model(lib: Any, kind: str, vocab: int, block: int, n_embd: int = 64, n_embd2: int = 64,
                n_layer: int = 4, n_head: int = 4) -> Any:
    """The model `kind` built from lib.nn (tinygrad_like or torch)."""
    nn = lib.nn

    class Bigram(nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = nn.Embedding(vocab, vocab)

        def forward(self, idx):
            return self.logits(idx)

    class MLP(nn.Module):
        """Embeds the previous block tokens of every position (vocab = a blank before the start)."""

        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab + 1, n_embd)
            self.mlp = nn.Sequential(nn.Linear(block * n_embd, n_embd2), nn.Tanh(), nn.Linear(n_embd2, vocab))

        def forward(self, idx):
            b, t = idx.shape
            blank = lib.full((b, t), vocab, dtype=idx.dtype)
            shifted = [idx if k == 0 else blank if k >= t else lib.cat([blank[:, :k], idx[:, :t - k]], 1)
                       for k in range(block)]
            return self.mlp(lib.cat([self.wte(s) for s in shifted], -1))

    class Recurrent(nn.Module):
        def __init__(self, cell: str):
            super().__init__()
            self.start = nn.Parameter(lib.zeros(1, 1, n_embd2))
            self.wte = nn.Embedding(vocab, n_embd)
            self.rnn = (nn.GRU if cell == "gru" else nn.RNN)(n_embd, n_embd2, batch_first=True)
            self.lm_head = nn.Linear(n_embd2, vocab)

        def forward(self, idx):
            out, _ = self.rnn(self.wte(idx), self.start.expand(1, idx.shape[0], n_embd2).contiguous())
            return self.lm_head(out)

    class Transformer(nn.Module):
        """GPT-style: token + position embeddings, pre-norm encoder layers under a causal mask, LayerNorm, head."""

        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.wpe = nn.Embedding(block, n_embd)
            layer = nn.TransformerEncoderLayer(n_embd, n_head, 4 * n_embd, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, n_layer, enable_nested_tensor=False)
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)

        def forward(self, idx):
            t = idx.shape[1]
            pos = lib.arange(t)
            mask = pos.unsqueeze(0) > pos.unsqueeze(1)  # True above the diagonal: may not attend (the future)
            x = self.wte(idx) + self.wpe(pos)
            return self.lm_head(self.ln_f(self.blocks(x, mask=mask, is_causal=True)))

    if kind == "bigram":
        return Bigram()
    if kind == "mlp":
        return MLP()
    if kind in ("rnn", "gru"):
        return Recurrent(kind)
    if kind == "transformer":
        return Transformer()
    raise SystemExit(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")


def copy_weights(src: Any, dst: Any, torch: Any) -> None:
    """tinygrad_like model -> the same PyTorch model (parameter names must agree)."""
    mine = dict(src.named_parameters())
    theirs = dict(dst.named_parameters())
    if sorted(mine) != sorted(theirs):
        raise RuntimeError(f"parameter names differ: {sorted(set(mine) ^ set(theirs))}")
    with torch.no_grad():
        for name, p in theirs.items():
            p.copy_(torch.tensor(mine[name].detach().numpy()))


# ---------------------------------------------------------------------- training, evaluation, sampling

class Run:
    """One library's model, optimizer and data tensors, with the same API calls for both."""

    def __init__(self, lib: Any, model: Any, data: dict, lr: float, weight_decay: float, jit: bool = False):
        self.lib, self.model = lib, model
        self.opt = lib.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.99), eps=1e-8)
        self.data = {k: (lib.tensor(d.x), lib.tensor(d.y)) for k, d in data.items()}
        self.F = lib.nn.functional
        self._step = tg.jit(self.train_step) if jit and lib is tg else self.train_step

    def loss(self, x: Any, y: Any) -> Any:
        logits = self.model(x)
        return self.F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1)

    def train_step(self, i: Any) -> Any:
        """One AdamW step on the training rows `i` (an int64 tensor); the batch loss."""
        x, y = self.data["train"]
        loss = self.loss(x[i], y[i])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    def step(self, idx: list) -> float:
        return self._step(self.lib.tensor(idx)).item()

    def evaluate(self, split: str, batch: int = 500, max_rows: int = 5000) -> float:
        """Mean loss per predicted character over (the first max_rows items of) a split."""
        x, y = self.data[split]
        n = min(x.shape[0], max_rows)
        total, count = 0.0, 0
        self.model.eval()
        with self.lib.no_grad():
            for s in range(0, n, batch):
                xb, yb = x[s:s + batch], y[s:s + batch]
                k = int((yb != -1).sum().item())
                total += self.loss(xb, yb).item() * k
                count += k
        self.model.train()
        return total / count

    def sample(self, data: CharData, n: int, temperature: float, top_k: Optional[int], gen: Any) -> list:
        """n new items, one character at a time (top-k and temperature; draws from tg's generator)."""
        idx = [[0] for _ in range(n)]
        self.model.eval()
        with self.lib.no_grad():
            for _ in range(data.block_size - 1):
                logits = self.model(self.lib.tensor(idx))[:, -1, :].tolist()
                u = tg.rand(n, dtype=tg.float64, generator=gen).tolist()
                for row, lg, ui in zip(idx, logits, u):
                    row.append(sample_index(lg, temperature, top_k, ui))
        self.model.train()
        out = []
        for row in idx:
            body = row[1:]
            out.append(data.decode(body[:body.index(0)] if 0 in body else body))
        return out


def sample_index(logits: list, temperature: float, top_k: Optional[int], u: float) -> int:
    """An index drawn from softmax(logits / temperature) restricted to the top_k largest, by inverse CDF at u
    (a small private stand-in for topk + multinomial)."""
    scaled = [v / temperature for v in logits]
    if top_k is not None and top_k < len(scaled):
        cut = sorted(scaled, reverse=True)[top_k - 1]
        scaled = [v if v >= cut else -math.inf for v in scaled]
    m = max(scaled)
    w = [math.exp(v - m) for v in scaled]
    target, acc = u * sum(w), 0.0
    for i, wi in enumerate(w):
        acc += wi
        if target < acc:
            return i
    return max(i for i, wi in enumerate(w) if wi > 0)


def save_checkpoint(run: Run, path: str, step: int) -> None:
    tensors, meta = tg.optim.flatten_state_dict(run.opt.state_dict())
    meta["step"] = str(step)
    tg.save({**run.model.state_dict(), **tensors}, path, metadata=meta)


def load_checkpoint(run: Run, path: str) -> int:
    """Restore the model and optimizer from save_checkpoint's file; returns the step it was written at."""
    loaded = tg.load(path)
    meta = tg.serialization.load_metadata(path)
    run.model.load_state_dict({k: v for k, v in loaded.items() if not k.startswith("optim.")})
    run.opt.load_state_dict(tg.optim.unflatten_state_dict(loaded, meta))
    return int(meta.get("step", "0"))


def train(lib: Any, kind: str, words: list, steps: int, batch_size: int, lr: float, weight_decay: float,
          seed: int, eval_every: int, checkpoint: Optional[str], resume: Optional[str], samples: int,
          temperature: float, top_k: Optional[int], say: Any, model_kw: Optional[dict] = None,
          eval_rows: int = 5000, init_from: Any = None, jit: bool = False) -> dict:
    """Train `kind` with lib (tinygrad_like or torch) from tinygrad_like's seeded initial weights and batches."""
    train_words, test_words = split(words, seed)
    chars = sorted(set("".join(words)))
    block = max(len(w) for w in words) + 1
    data = {"train": CharData(train_words, chars, block), "test": CharData(test_words, chars, block)}
    vocab = len(chars) + 1
    tg.manual_seed(seed)
    tg_model = build_model(tg, kind, vocab, block, **(model_kw or {}))
    model = tg_model
    if lib is not tg:
        lib.manual_seed(seed)
        model = build_model(lib, kind, vocab, block, **(model_kw or {}))
        copy_weights(tg_model, model, lib)
    run = Run(lib, model, data, lr, weight_decay, jit)
    nparams = sum(p.numel() for p in model.parameters())
    name = "torch" if lib is not tg else f"tinygrad_like/{tg.get_backend()}"
    say(f"{name}: {kind}, {nparams:,} parameters, vocabulary {vocab}, block {block}, "
        f"{len(train_words):,} train / {len(test_words):,} test items")
    start = 0
    if resume:
        start = load_checkpoint(run, resume)
        say(f"resumed from {resume} at step {start}")
    batches = tg.Generator(seed + 1)
    for _ in range(start):  # the same batch sequence as an uninterrupted run
        tg.randint(0, len(train_words), (batch_size,), generator=batches)
    history, times = [], []
    for step in range(start, steps):
        idx = tg.randint(0, len(train_words), (batch_size,), generator=batches).tolist()
        t0 = time.perf_counter()
        loss = run.step(idx)
        times.append(time.perf_counter() - t0)
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            tr, te = run.evaluate("train", max_rows=eval_rows), run.evaluate("test", max_rows=eval_rows)
            history.append((step + 1, tr, te))
            ms = 1e3 * sorted(times)[len(times) // 2]
            say(f"step {step + 1:5d}  batch loss {loss:.4f}  train loss {tr:.4f}  test loss {te:.4f}  {ms:.2f} ms/step")
    gen = tg.Generator(seed + 2)
    names = run.sample(data["test"], samples, temperature, top_k, gen) if samples else []
    if names:
        train_set, test_set = set(train_words), set(test_words)
        say("samples: " + ", ".join(f"{w}{'' if w in train_set or w in test_set else '*'}" for w in names)
            + "   (* = not in the data)")
    if checkpoint and lib is tg:
        save_checkpoint(run, checkpoint, steps)
        say(f"saved model and optimizer to {checkpoint}")
    return {"lib": name, "history": history, "test_loss": history[-1][2] if history else None,
            "ms_per_step": 1e3 * sorted(times)[len(times) // 2] if times else None, "samples": names,
            "params": nparams, "run": run}


def main(model: str = "transformer", input: Optional[str] = None, backend: Optional[str] = None, steps: int = 1500,
         use_torch: bool = False, compare: bool = False, batch_size: int = 32, lr: float = 5e-4,
         weight_decay: float = 0.01, seed: int = 3407, eval_every: int = 500, checkpoint: Optional[str] = None,
         resume: Optional[str] = None, samples: int = 10, temperature: float = 1.0, top_k: Optional[int] = None,
         words: Optional[list] = None, model_kw: Optional[dict] = None, eval_rows: int = 5000,
         verbose: bool = True, jit: bool = False) -> dict:
    """Train (and with compare=True also in PyTorch); returns {'tinygrad_like': result, 'torch': result}.
    `jit` replays tinygrad_like's captured training step (tg.jit)."""
    if backend:
        tg.set_backend(backend)
    say = print if verbose else (lambda *a, **k: None)
    words = load_words(input) if words is None else words
    common = dict(words=words, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                  eval_every=eval_every, samples=samples, temperature=temperature, top_k=top_k, say=say,
                  model_kw=model_kw, eval_rows=eval_rows)
    out = {}
    if not use_torch or compare:
        out["tinygrad_like"] = train(tg, model, checkpoint=checkpoint, resume=resume, jit=jit, **common)
    if use_torch or compare:
        torch = importlib.import_module("torch")
        out["torch"] = train(torch, model, checkpoint=None, resume=None, **common)
    if compare:
        a, b = out["tinygrad_like"], out["torch"]
        say(f"\n| {model} | test loss | ms/step |\n|---|---|---|")
        for r in (a, b):
            say(f"| {r['lib']} | {r['test_loss']:.4f} | {r['ms_per_step']:.2f} |")
        say(f"test losses differ by {100 * abs(a['test_loss'] / b['test_loss'] - 1):.2f}%")
    return out


def parse_args(argv: Any = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="transformer", choices=MODELS)
    p.add_argument("--input", default=None, help="a text file with one item per line (default: US-Census surnames)")
    p.add_argument("--backend", default=None, help="python, numba or c (default: the fastest that loads)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--torch", action="store_true", help="run the same model (weights, batches) in PyTorch instead")
    p.add_argument("--compare", action="store_true", help="run both and print them side by side")
    p.add_argument("--jit", action="store_true", help="capture the training step once and replay it (tg.jit)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=3407)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--checkpoint", default=None, help="save the model and optimizer here (safetensors) at the end")
    p.add_argument("--resume", default=None, help="continue from a checkpoint written by --checkpoint")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=None)
    return p.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    main(a.model, a.input, a.backend, a.steps, a.torch, a.compare, a.batch_size, a.lr, a.weight_decay, a.seed,
         a.eval_every, a.checkpoint, a.resume, a.samples, a.temperature, a.top_k, jit=a.jit)
