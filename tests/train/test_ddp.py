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
