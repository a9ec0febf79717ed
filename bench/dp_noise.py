"""The cost of secure DP noise: ChaCha20 Gaussians (privtune.dp.csprng) against torch.normal.

One DP-SGD step draws one Gaussian per trainable parameter. For the LoRA parameter sets of
bench/dp.py's ~15M-parameter Mistral config (r=8, all linear projections) and of Mistral-7B
(r=8, all linear projections: counted from its shapes, no weights loaded) this times, per step:

* ``torch.normal``: the old noise path, one MT19937 ``torch.normal`` per tensor;
* ``secure``: :func:`privtune.dp.noise.add_noise` over :class:`~privtune.dp.csprng.SecureRandom`
  (keystream, 53-bit uniforms, Box-Muller in float64, cast to float32, added and divided);
* ``seeded``: the same ``add_noise`` over the test-only ``SeededRandom``.

Median of several repeats, ``torch`` threads as given (default 1, like bench/dp.py's
contenders); with ``cuda`` available the same on the GPU. Writes results/dp_noise.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

MISTRAL_7B = {"hidden": 4096, "intermediate": 14336, "layers": 32, "heads": 32, "kv_heads": 8}


def lora_shapes_small(r: int = 8) -> list[tuple[int, ...]]:
    """The LoRA tensors of bench/dp.py's model (built with random weights, then wrapped)."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    from privtune.train.lora import wrap_with_lora
    from privtune.train.spec import LoraSpec
    from train import MODEL

    with torch.device("meta"):
        model = MistralForCausalLM(MistralConfig(**MODEL, tie_word_embeddings=True))
    peft = wrap_with_lora(model, LoraSpec(r=r, alpha=16.0, dropout=0.0))
    return [tuple(p.shape) for p in peft.parameters() if p.requires_grad]


def lora_shapes_7b(r: int = 8) -> list[tuple[int, ...]]:
    m = MISTRAL_7B
    h, i, kv = m["hidden"], m["intermediate"], m["hidden"] // m["heads"] * m["kv_heads"]
    linears = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]  # q k v o gate up down
    shapes: list[tuple[int, ...]] = []
    for _ in range(m["layers"]):
        for d_in, d_out in linears:
            shapes += [(r, d_in), (d_out, r)]
    return shapes


def _time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def measure(shapes: list[tuple[int, ...]], device: str, repeats: int) -> dict[str, float]:
    import torch

    from privtune.dp.csprng import SecureRandom, SeededRandom
    from privtune.dp.noise import add_noise

    sums = [torch.zeros(s, device=device) for s in shapes]
    gen = torch.Generator(device=device).manual_seed(0)
    secure, seeded = SecureRandom(), SeededRandom(0, device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def old() -> None:  # the noise path before: torch.normal per tensor, MT19937 / Philox
        for s in sums:
            s.clone().add_(torch.normal(0.0, 1.0, size=s.shape, generator=gen, device=device))\
                .div_(8.0)

    t_old = _time(old, repeats, sync)
    t_sec = _time(lambda: add_noise(sums, 1.0, 8.0, secure), repeats, sync)
    t_seed = _time(lambda: add_noise(sums, 1.0, 8.0, seeded), repeats, sync)
    return {"torch.normal s": t_old, "secure s": t_sec, "seeded s": t_seed,
            "secure / torch.normal": t_sec / t_old}


def main(threads: int = 1, repeats: int = 7) -> None:
    import torch

    torch.set_num_threads(threads)
    load = os.getloadavg()
    sets = {"15M Mistral (bench/dp.py), LoRA r=8 all-linear": lora_shapes_small(),
            "Mistral-7B, LoRA r=8 all-linear": lora_shapes_7b()}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for name, shapes in sets.items():
            n = sum(int(torch.Size(s).numel()) for s in shapes)
            r = measure(shapes, device, repeats if n < 5_000_000 else max(3, repeats // 2))
            rows.append({"parameters": name, "LoRA params": n, "tensors": len(shapes),
                         "device": device,
                         **{k: round(v, 4) for k, v in r.items()},
                         "secure M normals/s": round(n / r["secure s"] / 1e6, 1)})
            print(rows[-1])
    write("dp_noise", {"threads": threads, "load_before": load, "load_after": os.getloadavg()},
          rows, ["parameters", "LoRA params", "device", "torch.normal s", "secure s",
                 "seeded s", "secure / torch.normal", "secure M normals/s"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    main(a.threads, a.repeats)
