"""How much of the real/synthetic label the base codec's decoded latent ŷ still carries.

The `decoder` adapters see only ŷ (the base bitstream), so they can restore the detector only as
far as ŷ still tells real from synthetic. This script codes every tile of a
DIR/{train,val,test}/{real,synthetic} split with the registered base codec, keeps ŷ (what the
decoder receives), trains two probes on the train split's ŷ and scores them on val and test:

- linear: logistic regression on per-channel statistics of ŷ (mean, mean |ŷ|, standard deviation);
- conv: two 3x3 convolutions, global average pooling and a linear layer on ŷ itself.

    python scripts/probe_latent.py --data datasets/demo-families -q 1 --json runs/probe-q1.json

`--codec finetuned` probes the fully fine-tuned codec of the rate point instead, and `--weights-dir`
takes the codecs from another weights folder (e.g. a training run's, before it is registered).

Accuracy (threshold 0.5) and AUC come with 95 % bootstrap intervals over tiles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from forensiccodec.api import CodecStore
from forensiccodec.data.layout import SPLITS, scan_split
from forensiccodec.detector.confidence import bootstrap_intervals
from forensiccodec.errors import FccError
from forensiccodec.images import load_image, pad_to_multiple


def decoded_latents(codec, samples: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    """ŷ of every (image, label) of a scanned split, and the labels (1 = synthetic)."""
    model, latents, labels = codec.model, [], []
    medians = torch.from_numpy(codec.tables.z_medians).float().view(1, -1, 1, 1)
    with torch.inference_mode():
        for path, label in samples:
            y = model.analysis(pad_to_multiple(load_image(path).pixels.float(), 64))
            z_hat = torch.round(model.hyper_analysis(y) - medians) + medians
            _, means = model.hyper_synthesis(z_hat, dtype=torch.float64)
            latents.append((torch.round(y.double() - means) + means).float())
            labels.append(label)
    return torch.cat(latents), torch.tensor(labels, dtype=torch.float32)


def channel_statistics(y_hat: torch.Tensor) -> torch.Tensor:
    flat = y_hat.flatten(2)
    return torch.cat([flat.mean(2), flat.abs().mean(2), flat.std(2)], dim=1)


def conv_probe(channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))


def train_probe(probe: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, steps: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-3, weight_decay=1e-4)
    loss = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        batch = torch.randint(0, len(labels), (64,))
        optimizer.zero_grad()
        loss(probe(inputs[batch]).squeeze(1), labels[batch]).backward()
        optimizer.step()
    return probe.eval()


def scored(probe: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, object]:
    with torch.no_grad():
        logits = probe(inputs).squeeze(1).numpy()
    real, synthetic = logits[labels.numpy() == 0], logits[labels.numpy() == 1]
    intervals = bootstrap_intervals(real, synthetic)
    return {name: {"value": round(interval.value, 4), "ci": [round(interval.low, 3), round(interval.high, 3)]}
            for name, interval in intervals.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("-q", "--quality", type=int, default=1)
    parser.add_argument("--config", default="small")
    parser.add_argument("--codec", choices=("base", "finetuned"), default="base",
                        help="the registered base codec, or the fully fine-tuned one")
    parser.add_argument("--weights-dir", type=Path, default=None, help="default: $FCC_WEIGHTS_DIR or weights/")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        scanned = {split: scan_split(args.data, split) for split in SPLITS}
        codec = CodecStore(args.weights_dir).get(args.config, args.quality, codec=args.codec)
    except FccError as error:
        parser.error(str(error))
    splits = {split: decoded_latents(codec, samples) for split, samples in scanned.items()}
    train_y, train_labels = splits["train"]
    statistics = channel_statistics(train_y)
    mean, std = statistics.mean(0), statistics.std(0) + 1e-6
    scale = train_y.std()
    probes = {
        "linear": (nn.Linear(statistics.shape[1], 1), lambda y: (channel_statistics(y) - mean) / std),
        "conv": (conv_probe(train_y.shape[1]), lambda y: y / scale),
    }
    results: dict[str, object] = {"data": str(args.data), "config": args.config, "quality": args.quality,
                                  "codec": args.codec, "codec_sha256": codec.sha256, "steps": args.steps,
                                  "tiles": {s: len(v[1]) for s, v in splits.items()}}
    for name, (probe, features) in probes.items():
        trained = train_probe(probe, features(train_y), train_labels, args.steps, seed=0)
        results[name] = {split: scored(trained, features(y), labels) for split, (y, labels) in splits.items()}
        for split in ("val", "test"):
            row = results[name][split]  # type: ignore[index]
            print(f"{name} probe, {split}: accuracy {row['accuracy']['value']:.3f} {row['accuracy']['ci']}, "
                  f"AUC {row['auc']['value']:.3f} {row['auc']['ci']}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
