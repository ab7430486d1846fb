"""Scoring a forensic run on its val split, and the base codec's own scores there.

:class:`SplitValidation` scores the reconstructions of the model being trained. Adapters are
worth what they add over the codec they sit in, at what cost to the picture, so a run also
scores the registered base codec (no adapters) on its val split once, with the same patches as
its own validations, and reports it beside them. That record is kept next to the checkpoints,
tied to the base codec, the detector and the validation settings, so that the later stints of a
resumed run reuse it instead of scoring the base again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from forensiccodec.codec.tic import TIC
from forensiccodec.detector.evaluation import summarise
from forensiccodec.detector.model import PatchDetector
from forensiccodec.images import crop, load_image, pad_to_multiple, psnr
from forensiccodec.train.forensic_objective import ForensicCodecPass

BASE_VALIDATION_FILE = "base_validation.json"
SIZE_MULTIPLE = 64  # the codec's input sides: the val images are padded to it and cropped back


@dataclass
class SplitValidation:
    """Accuracy, AUC, PSNR and estimated bpp of the reconstructions of a labelled split.

    The codec runs as in training but deterministically (rounded latents; patches drawn by the
    detector's own seeded generator), so the numbers are comparable from step to step.
    """

    model: ForensicCodecPass
    samples: list[tuple[Path, int]]
    n_patches: int = 100
    top_m: int = 75

    def __call__(self, step: int) -> dict[str, float]:
        self.model.eval()
        device = next(self.model.codec.parameters()).device
        scores: dict[int, list[float]] = {0: [], 1: []}
        psnrs, rates = [], []
        with torch.no_grad():
            for path, label in self.samples:
                image = load_image(path).pixels.to(device)
                height, width = image.shape[-2:]
                output = self.model.reconstruct(pad_to_multiple(image, SIZE_MULTIPLE))
                x_hat = crop(output["x_hat"], height, width)
                bits = sum(-torch.log2(v).sum() for v in output["likelihoods"].values())
                rates.append(float(bits) / (height * width))
                psnrs.append(psnr(x_hat[0].cpu(), image[0].cpu()))
                result = self.model.detector.score_image(x_hat[0], n_patches=self.n_patches, top_m=self.top_m)
                scores[label].append(result.score)
        evaluation = summarise(scores[0], scores[1], n_patches=self.n_patches, top_m=self.top_m)
        return {
            "accuracy": evaluation.accuracy, "auc": evaluation.auc,
            "real_accuracy": evaluation.real_accuracy, "synthetic_accuracy": evaluation.synthetic_accuracy,
            "psnr": sum(psnrs) / len(psnrs), "est_bpp": sum(rates) / len(rates),
        }


def base_codec_validation(
    base: TIC, detector: PatchDetector, samples: list[tuple[Path, int]], *, n_patches: int, top_m: int,
    identity: dict[str, Any], folder: Path, device: torch.device,
) -> dict[str, float]:
    """Accuracy, AUC, PSNR and estimated bpp of ``base``'s reconstructions of ``samples``.

    ``identity`` names what the numbers depend on (the base codec's and the detector's sha256);
    a record in ``folder`` with the same identity, samples and patch settings is reused.
    """
    key = {**identity, "n_patches": n_patches, "top_m": top_m,
           "samples": sorted([str(path), label] for path, label in samples)}
    path = Path(folder) / BASE_VALIDATION_FILE
    if path.exists():
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = {}  # not a record this code wrote: score the base again and replace it
        if isinstance(record, dict) and record.get("key") == key:
            return record["metrics"]
    model = ForensicCodecPass(base, detector).to(device)
    try:
        metrics = SplitValidation(model, samples, n_patches, top_m)(0)
    finally:
        model.cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"key": key, "metrics": metrics}))
    temporary.replace(path)  # never a half-written record for the next stint to trust
    return metrics
