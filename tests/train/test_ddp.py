"""Two CPU processes under torchrun (gloo): the loop trains, rank 0 writes the checkpoint and
every rank ends with the same parameters."""

import textwrap

import torch
from torchrun_helper import run_two_processes

SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from compressai.models import ScaleHyperprior
    from forensiccodec.train.distributed import cleanup_distributed, setup_distributed
    from forensiccodec.train.loop import TrainConfig, train_codec
    from forensiccodec.train.rate_distortion import RateDistortionLoss

    torch.set_num_threads(1)
    out = sys.argv[1]
    context = setup_distributed("cpu")
    assert context.world_size == 2 and context.backend == "gloo"
    torch.manual_seed(context.rank)  # different initial weights: DDP must broadcast rank 0's
    model = ScaleHyperprior(N=8, M=8)
    images = torch.rand(16, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(steps=3, batch_size=2, device="cpu", checkpoint_dir=out, checkpoint_every=2,
                         log_every=1, progress=False, seed=0)
    result = train_codec(model, images, RateDistortionLoss(0.01), config, context=context)
    assert result.steps == 3
    torch.save(model.state_dict(), f"{out}/rank{context.rank}.pt")
    cleanup_distributed()
    """
)


def test_two_gloo_processes_train_identically(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    process = run_two_processes([str(script), str(tmp_path)], timeout=120)
    assert process.returncode == 0, process.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=True)
    assert checkpoint["step"] == 3 and checkpoint["world_size"] == 2 and len(checkpoint["rng"]) == 2
    assert (tmp_path / "train_log.jsonl").read_text().count("\n") == 3
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), name
        assert torch.equal(value, checkpoint["model"][name]), name


def test_forensic_adapters_train_under_torchrun(tmp_path):
    """`python -m forensiccodec train-adapter` under torchrun: one registered export,
    validation and --keep-best on the main process, the frozen base untouched."""
    import json

    import numpy as np
    from PIL import Image

    from forensiccodec.codec.config import get_config
    from forensiccodec.codec.tic import TIC
    from forensiccodec.detector import build_backbone
    from forensiccodec.detector.weights import export_detector
    from forensiccodec.zoo import Manifest, export_codec, sha256_of_file

    weights = tmp_path / "weights"
    torch.manual_seed(1)
    export_codec(TIC(get_config("tiny")).eval(), config_name="tiny", quality=1, weights_dir=weights)
    torch.manual_seed(2)
    export_detector(build_backbone("tiny").eval(), config_name="tiny", weights_dir=weights, n_patches=8, top_m=6)
    base_sha = sha256_of_file(weights / Manifest.load(weights).entries["tic-tiny-q1"].file)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("real", "synthetic"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            for index in range(2):
                Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(folder / f"{index}.png")

    run = tmp_path / "run"
    process = run_two_processes(
        ["-m", "forensiccodec", "train-adapter", "--data", str(tmp_path / "data"), "-q", "1",
         "--placement", "paper", "--config", "tiny", "--detector", "tiny", "--steps", "2", "--batch-size", "1",
         "--crop-size", "64", "--patches", "2", "--val-patches", "4", "--val-top", "3", "--validate-every", "1",
         "--keep-best", "--device", "cpu", "--weights-dir", str(weights), "--checkpoint-dir", str(run),
         "--no-progress"],
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    summaries = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    exported = [s for s in summaries if "exported" in s]
    assert len(exported) == 1 and exported[0]["world_size"] == 2 and exported[0]["kept_validation"]["step"] in (1, 2)
    assert torch.load(run / "last.pt", weights_only=True)["world_size"] == 2
    entries = Manifest.load(weights).entries
    assert "sfma-tiny-q1-paper" in entries
    assert sha256_of_file(weights / entries["tic-tiny-q1"].file) == base_sha
