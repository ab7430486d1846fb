"""Forensic training: the trainable sets, the loss, and end-to-end runs that leave the base frozen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_forensic_models import tiny_base, tiny_detector

from forensiccodec.detector.weights import export_detector
from forensiccodec.errors import FccError
from forensiccodec.rate_points import rate_point_for_quality
from forensiccodec.train.forensic_objective import (
    TRAINING_PATCHES,
    ForensicCodecPass,
    ForensicLoss,
    round_straight_through,
)
from forensiccodec.train.forensic_training import (
    build_trainable_codec,
    frozen_weights_changed,
    train_forensic,
)
from forensiccodec.zoo import Manifest, export_codec, load_codec, sha256_of_file

torch.set_num_threads(1)



@pytest.mark.parametrize(
    ("placement", "prefixes"),
    [("paper", ("encoder_sfmas.", "decoder_sfmas.")), ("decoder", ("decoder_sfmas.",)), ("full", ("",))],
)
def test_only_the_placement_trains(placement: str, prefixes: tuple[str, ...]) -> None:
    codec, trainable = build_trainable_codec(tiny_base(), placement)
    names = {id(p): n for n, p in codec.named_parameters()}
    assert trainable and all(names[id(p)].startswith(prefixes) for p in trainable)
    frozen = [n for n, p in codec.named_parameters() if not p.requires_grad]
    if placement == "full":
        assert not frozen
    else:
        assert all(not n.startswith(prefixes) for n in frozen) and any(n.startswith("g_s") for n in frozen)
        assert codec.encoder_adapters_enabled == (placement == "paper") and codec.decoder_adapters_enabled


def test_fresh_adapters_start_from_the_base_codec() -> None:
    base = tiny_base()
    codec, _ = build_trainable_codec(base, "paper")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(codec.synthesis(codec.analysis(x)), base.synthesis(base.analysis(x)))


def test_straight_through_rounding_rounds_forward_and_passes_gradients() -> None:
    x = torch.tensor([0.2, 1.7, -0.6], requires_grad=True)
    y = round_straight_through(x, torch.tensor(0.5))
    assert torch.equal(y.detach(), torch.tensor([0.5, 1.5, -0.5]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(3))


@pytest.mark.parametrize("placement", ["decoder", "paper"])
def test_loss_parts_and_gradients_reach_only_the_adapters(placement: str) -> None:
    codec, trainable = build_trainable_codec(tiny_base(), placement)
    with torch.no_grad():  # let the adapters do something, so gradients are not trivially zero
        for sfma in [*codec.encoder_sfmas, *codec.decoder_sfmas]:
            for projection in (sfma.s_up, sfma.f_up):
                projection.weight.normal_(0, 0.05)
    model = ForensicCodecPass(codec, tiny_detector(), k_patches=4)
    model.train()
    assert not model.codec.training and not model.detector.training
    images, labels = torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
    output = model(images)
    assert output["logits"].shape == (2, 2) and output["x_hat"].shape == images.shape
    assert len(output["features"]) == len(output["features_hat"])
    losses = ForensicLoss(0.045)(output, (images, labels))
    expected = losses["bpp"] + 0.045 * (losses["ce"] + losses["perceptual"])
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    losses["loss"].backward()
    trainable_ids = {id(p) for p in trainable}
    for name, parameter in [*model.codec.named_parameters(), *model.detector.named_parameters()]:
        if id(parameter) in trainable_ids:
            continue
        assert parameter.grad is None, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    encoder_grads = [p.grad for n, p in model.codec.named_parameters() if n.startswith("encoder_sfmas")]
    assert any(g is not None for g in encoder_grads) == (placement == "paper")


def test_under_bf16_autocast_rounding_and_entropy_models_stay_float32() -> None:
    codec, _ = build_trainable_codec(tiny_base(), "paper")
    model = ForensicCodecPass(codec, tiny_detector(), k_patches=4)
    images, labels = torch.rand(2, 3, 64, 64), torch.tensor([0, 1])
    torch.manual_seed(0)
    reference = ForensicLoss(0.045)(model(images), (images, labels))
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(images)
    assert output["likelihoods"]["y"].dtype == torch.float32 and output["likelihoods"]["z"].dtype == torch.float32
    assert output["x_hat"].dtype == torch.bfloat16  # the transforms did run in bf16
    losses = ForensicLoss(0.045)(output, (images, labels))
    # the rate is within what bf16 transforms change in y, not what bf16 likelihoods would add
    assert losses["bpp"].item() == pytest.approx(reference["bpp"].item(), rel=0.02)
    assert losses["loss"].item() == pytest.approx(reference["loss"].item(), rel=0.05)


def test_fidelity_adds_the_base_codecs_distortion_term() -> None:
    images, labels = torch.rand(2, 3, 16, 16), torch.tensor([0, 1])
    x_hat = (images + 0.05 * torch.randn_like(images)).clamp(0, 1).requires_grad_(True)
    output = {"x_hat": x_hat, "likelihoods": {"y": torch.full((2, 4, 2, 2), 0.5)}, "logits": torch.randn(2, 2),
              "features_hat": [torch.randn(2, 3)], "features": [torch.randn(2, 3)]}
    paper = ForensicLoss(0.02)(output, (images, labels))
    off = ForensicLoss(0.02, fidelity=0.0, codec_lambda=0.0018)(output, (images, labels))
    on = ForensicLoss(0.02, fidelity=2.0, codec_lambda=0.0018)(output, (images, labels))
    mse = torch.mean((x_hat.detach() - images) ** 2)
    assert off["loss"].item() == paper["loss"].item()
    assert on["loss"].item() == pytest.approx(paper["loss"].item() + 2.0 * 0.0018 * 255**2 * mse.item(), rel=1e-6)
    assert on["psnr"].item() == pytest.approx(paper["psnr"].item())
    on["loss"].backward()  # the term pulls x̂ towards x
    assert torch.sign(x_hat.grad[x_hat.detach() != images]).eq(torch.sign((x_hat - images).detach()[x_hat.detach() != images])).all()


@pytest.mark.parametrize("fidelity, codec_lambda", [(-0.5, 0.0018), (1.0, None), (1.0, 0.0)])
def test_fidelity_settings_that_make_no_sense_are_refused(fidelity: float, codec_lambda: float | None) -> None:
    with pytest.raises(ValueError):
        ForensicLoss(0.02, fidelity=fidelity, codec_lambda=codec_lambda)


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("real", "synthetic"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(2):
                Image.fromarray(rng.integers(0, 256, size=(80, 96, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return root


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    weights = tmp_path / "weights"
    export_codec(tiny_base(), config_name="tiny", quality=1, weights_dir=weights)
    export_detector(tiny_detector().backbone, config_name="tiny", weights_dir=weights, n_patches=8, top_m=6)
    return weights


def _train(tmp_path: Path, weights: Path, placement: str, **options) -> dict:
    return train_forensic(
        data=_data(tmp_path / f"data-{placement}") if "data" not in options else options.pop("data"),
        rate_point=rate_point_for_quality(1), placement=placement, config_name="tiny", detector_config="tiny",
        steps=options.pop("steps", 2), batch_size=2, crop_size=64, k_patches=3,
        checkpoint_dir=options.pop("checkpoint_dir", tmp_path / f"run-{placement}"),
        device="cpu", weights_dir=weights, progress=False, val_patches=4, val_top=3, **options,
    )


@pytest.mark.parametrize("placement", ["decoder", "paper"])
def test_adapter_training_registers_adapters_and_leaves_the_base_and_detector_untouched(
    tmp_path: Path, registry: Path, placement: str,
) -> None:
    from forensiccodec.adapters import adapter_entry_name, load_adapted_codec

    manifest = Manifest.load(registry)
    files_before = {name: sha256_of_file(registry / e.file) for name, e in manifest.entries.items()}
    summary = _train(tmp_path, registry, placement, validate_every=1)
    assert summary["steps"] == 2 and summary["placement"] == placement
    assert summary["trainable_parameters"] > 0 and set(summary["validation"]) >= {"accuracy", "auc", "psnr", "step"}
    entries = Manifest.load(registry).entries
    assert {name: sha256_of_file(registry / entries[name].file) for name in files_before} == files_before
    assert entries[adapter_entry_name("tiny", 1, placement)].extra["training"]["lambda"] == 0.02
    # the base codec's own val scores, the reference for the run's, go into the record too
    assert set(summary["base_validation"]) >= {"accuracy", "auc", "psnr", "est_bpp"}
    assert entries[adapter_entry_name("tiny", 1, placement)].extra["training"]["base_validation"] == summary["base_validation"]

    adapted = load_adapted_codec("tiny", 1, placement, registry).model
    base = load_codec("tiny", 1, registry).model
    adapted_state = adapted.state_dict()
    for key, value in base.state_dict().items():
        assert torch.equal(adapted_state[key], value), key
    moved = [p.abs().sum() > 0 for sfma in adapted.decoder_sfmas for p in (sfma.s_up.weight, sfma.f_up.weight)]
    assert any(moved)  # training moved the zero-initialised up projections
    log = [json.loads(line) for line in (tmp_path / f"run-{placement}" / "train_log.jsonl").read_text().splitlines()]
    assert any("validation" in record for record in log)


def test_full_fine_tuning_registers_its_own_codec(tmp_path: Path, registry: Path) -> None:
    from forensiccodec.adapters import load_finetuned_codec

    summary = _train(tmp_path, registry, "full")
    assert summary["trainable_parameters"] == sum(p.numel() for p in tiny_base().parameters())
    # the run scores its val split at the end, so the base codec is scored there too (not the tuned copy)
    assert summary["base_validation"]["psnr"] != summary["validation"]["psnr"]
    tuned = load_finetuned_codec("tiny", 1, registry).model.state_dict()
    base = load_codec("tiny", 1, registry).model.state_dict()
    assert any(not torch.equal(tuned[k], base[k]) for k in base if k.startswith("g_s"))


def test_registered_weights_are_not_replaced_silently(tmp_path: Path, registry: Path) -> None:
    _train(tmp_path, registry, "decoder")
    with pytest.raises(FccError, match="already registered"):
        _train(tmp_path, registry, "decoder", data=tmp_path / "data-decoder")


def test_frozen_weight_check_sees_a_changed_tensor() -> None:
    base = tiny_base()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    assert frozen_weights_changed(before, base) == []
    with torch.no_grad():
        base.g_s7.bias.add_(1e-7)
    assert frozen_weights_changed(before, base) == ["g_s7.bias"]


def test_cli_train_adapter_and_forensic_fine_tuning(tmp_path: Path, registry: Path) -> None:
    from click.testing import CliRunner

    from forensiccodec.cli import main

    data = _data(tmp_path / "data")
    common = ["--data", str(data), "--config", "tiny", "--detector", "tiny", "--steps", "1", "--batch-size", "2",
              "--crop-size", "64", "--patches", "2", "--weights-dir", str(registry), "--device", "cpu"]
    runner = CliRunner()
    result = runner.invoke(main, ["train-adapter", "--lambda", "0.02", "--placement", "decoder", "--no-progress",
                                  "--checkpoint-dir", str(tmp_path / "a"), *common])
    assert result.exit_code == 0, result.output
    adapter_summary = json.loads(result.output.strip().splitlines()[-1])
    assert adapter_summary["exported"] == "sfma-tiny-q1-decoder.safetensors"
    assert adapter_summary["patch_aggregate"] == "mean"  # the paper's, by default
    result = runner.invoke(main, ["train-adapter", "--placement", "full", "-q", "1", "--patch-aggregate", "top",
                                  "--no-progress", "--checkpoint-dir", str(tmp_path / "b"), *common])
    assert result.exit_code == 0, result.output
    full_summary = json.loads(result.output.strip().splitlines()[-1])
    assert full_summary["patch_aggregate"] == "top" and full_summary["lr"] == 1e-4  # the full fine-tune's own default
    assert "tic-tiny-ft-q1" in Manifest.load(registry).entries
    moved = runner.invoke(main, ["train-codec", "--objective", "forensic", "-q", "1", "--data", str(data)])
    assert moved.exit_code == 2 and "--placement full" in moved.output

    missing_rate = runner.invoke(main, ["train-adapter", *common])
    assert missing_rate.exit_code != 0 and "--lambda" in missing_rate.output
    assert len(missing_rate.output.strip().splitlines()) == 1
    with_init = runner.invoke(main, ["train-adapter", "--placement", "full", "-q", "1", "--init-from", "x", *common])
    assert with_init.exit_code == 2 and "--init-from" in with_init.output


def test_adapter_training_follows_the_requested_precision(tmp_path: Path, registry: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    data = _data(tmp_path / "data")
    common = dict(data=data, rate_point=rate_point_for_quality(1), config_name="tiny", detector_config="tiny",
                  steps=1, batch_size=2, crop_size=64, k_patches=4, device="cpu", export=False,
                  weights_dir=registry, progress=False)
    # a CPU without native bf16: auto falls back to float32, an explicit bf16 is refused
    summary = train_forensic(checkpoint_dir=tmp_path / "auto", precision="auto", **common)
    assert summary["precision"] == "fp32"
    with pytest.raises(FccError, match="no native bf16"):
        train_forensic(checkpoint_dir=tmp_path / "bf16", precision="bf16", **common)


def test_lambda_scale_multiplies_lambda_in_the_loss_and_is_recorded(tmp_path: Path, registry: Path) -> None:
    summary = _train(tmp_path, registry, "paper", lambda_scale=10.0, workers=1, export=False)
    assert summary["lambda"] == 0.02 and summary["lambda_scale"] == 10.0
    records = [json.loads(line) for line in (tmp_path / "run-paper" / "train_log.jsonl").read_text().splitlines()]
    logged = [r for r in records if "loss" in r]
    assert logged
    for record in logged:  # logged values are means over steps, and the loss is linear in its parts
        expected = record["bpp"] + 0.2 * (record["ce"] + record["perceptual"])
        assert record["loss"] == pytest.approx(expected, rel=1e-5)


def test_warmup_ramps_the_logged_learning_rate(tmp_path: Path, registry: Path) -> None:
    _train(tmp_path, registry, "decoder", steps=3, lr=1e-3, warmup_steps=4, export=False)
    records = [json.loads(line) for line in (tmp_path / "run-decoder" / "train_log.jsonl").read_text().splitlines()]
    (last,) = [r for r in records if "lr" in r]  # logged once, at the last step (index 2)
    assert last["lr"] == pytest.approx(1e-3 * 0.5 * 3 / 4)  # halved after 60 % of 3 steps; 3 of 4 warm-up steps


def test_patch_aggregate_reaches_the_loss_and_is_part_of_the_run(
    tmp_path: Path, registry: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    detector = tiny_detector()
    model = ForensicCodecPass(build_trainable_codec(tiny_base(), "decoder")[0], detector, k_patches=8, patch_aggregate="top")
    asked: list[str] = []
    score_batch = detector.score_batch
    monkeypatch.setattr(detector, "score_batch", lambda *a, **kw: (asked.append(kw.get("aggregate", "mean")), score_batch(*a, **kw))[1])
    model(torch.rand(2, 3, 64, 64))
    assert asked == ["top", "mean"]  # x̂ is scored as asked; the original only gives features
    with pytest.raises(ValueError, match="patch_aggregate"):
        ForensicCodecPass(model.codec, detector, patch_aggregate="median")

    summary = _train(tmp_path, registry, "decoder", steps=1, patch_aggregate="top", export=False)
    assert summary["patch_aggregate"] == "top"
    with pytest.raises(FccError, match="patch_aggregate"):  # a resume may not change the loss
        _train(tmp_path, registry, "decoder", steps=2, resume=True, export=False, data=tmp_path / "data-decoder")


def test_cli_refuses_bad_lambda_scale_fidelity_and_workers(tmp_path: Path, registry: Path) -> None:
    from click.testing import CliRunner

    from forensiccodec.cli import main

    data = _data(tmp_path / "data")
    common = ["--data", str(data), "--config", "tiny", "--steps", "1", "--weights-dir", str(registry), "--device", "cpu"]
    runner = CliRunner()
    for option in (["--lambda-scale", "0"], ["--fidelity", "-1"], ["--workers", "-1"], ["--ema-decay", "1"]):
        result = runner.invoke(main, ["train-adapter", "-q", "1", "--detector", "tiny", "--no-export", *option, *common])
        assert result.exit_code != 0 and option[0] in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    negative_warmup = runner.invoke(main, ["train-adapter", "-q", "1", "--warmup-steps", "-1", *common])
    assert negative_warmup.exit_code == 2 and "--warmup-steps" in negative_warmup.output
    rd = runner.invoke(main, ["train-codec", "-q", "1", "--lambda-scale", "2", *common])
    assert rd.exit_code == 2 and "No such option" in rd.output  # a forensic knob: train-adapter's
    unknown = runner.invoke(main, ["train-adapter", "-q", "1", "--patch-aggregate", "max", *common])
    assert unknown.exit_code == 2 and "--patch-aggregate" in unknown.output
    # the CLI spells the choices and the default out (no torch at import); they must stay the library's
    from forensiccodec.detector.model import PATCH_AGGREGATES

    options = {o.name: o for o in main.commands["train-adapter"].params}
    assert tuple(options["patch_aggregate"].type.choices) == PATCH_AGGREGATES
    assert options["k_patches"].default == TRAINING_PATCHES


def test_ema_decay_exports_the_averaged_adapters(tmp_path: Path, registry: Path) -> None:
    from forensiccodec.adapters import read_adapter_file

    summary = _train(tmp_path, registry, "decoder", steps=3, ema_decay=0.5)
    assert summary["ema_decay"] == 0.5
    checkpoint = torch.load(tmp_path / "run-decoder" / "last.pt", weights_only=True)
    names = [n for n in checkpoint["model"] if n.startswith("codec.decoder_sfmas.")]
    averages = dict(zip(names, checkpoint["weight_average"]["averages"]))
    exported, _ = read_adapter_file(registry / Manifest.load(registry).entries["sfma-tiny-q1-decoder"].file)
    assert len(exported) == len(names)
    for name in names:  # the export is the average, the checkpoint keeps the trained weights
        assert torch.equal(exported[name.removeprefix("codec.")], averages[name]), name
    assert any(not torch.equal(averages[n], checkpoint["model"][n]) for n in names)


def test_keep_best_exports_the_weights_of_the_best_validation(tmp_path: Path, registry: Path) -> None:
    from forensiccodec.adapters import load_adapted_codec
    from forensiccodec.train.best_weights import BEST_FILE

    summary = _train(tmp_path, registry, "decoder", steps=3, validate_every=1, keep_best=True)
    validations = [r for r in (json.loads(line) for line in (tmp_path / "run-decoder" / "train_log.jsonl")
                               .read_text().splitlines()) if "validation" in r]
    assert [r["step"] for r in validations] == [1, 2, 3]  # from the identity: no step-0 candidate
    scores = [(r["validation"]["accuracy"], r["validation"]["auc"]) for r in validations]
    assert summary["kept_validation"]["step"] == validations[scores.index(max(scores))]["step"]
    saved = torch.load(tmp_path / "run-decoder" / BEST_FILE, weights_only=True)["tensors"]
    adapted = load_adapted_codec("tiny", 1, "decoder", registry).model.state_dict()
    assert saved and all(torch.equal(adapted[name], value) for name, value in saved.items())
    with pytest.raises(FccError, match="--validate-every"):
        _train(tmp_path, registry, "paper", keep_best=True, export=False)


def test_init_from_starts_from_a_registered_set_and_records_it(tmp_path: Path, registry: Path) -> None:
    from forensiccodec.adapters import ENCODER_PREFIX, read_adapter_file
    from forensiccodec.train.forensic_training import start_from_adapters

    _train(tmp_path, registry, "decoder", steps=2)
    entry = Manifest.load(registry).entries["sfma-tiny-q1-decoder"]
    trained, _ = read_adapter_file(registry / entry.file)
    base_sha = Manifest.load(registry).entries["tic-tiny-q1"].sha256

    # a paper run started from a decoder set: its decoder adapters, identity encoder adapters
    codec, _ = build_trainable_codec(tiny_base(), "paper")
    initial = start_from_adapters(codec, "sfma-tiny-q1-decoder", "paper", base_sha, registry)
    state = codec.state_dict()
    assert initial.record["sha256"] == entry.sha256 and initial.record["tensors"] == len(trained)
    assert all(torch.equal(state[key], value) for key, value in trained.items())
    assert all(not state[k].any() for k in state if k.startswith(ENCODER_PREFIX) and "_up." in k)

    summary = _train(tmp_path, registry, "paper", init_from="sfma-tiny-q1-decoder", steps=1, export=False)
    assert summary["init_from"]["source"] == "sfma-tiny-q1-decoder"
    assert summary["init_from"]["sha256"] == entry.sha256
    # by file path too, and a resume may not switch the start to another set
    data = tmp_path / "data-decoder"
    by_file = _train(tmp_path, registry, "decoder", init_from=str(registry / entry.file), steps=1, export=False,
                     checkpoint_dir=tmp_path / "run-by-file", data=data)
    assert by_file["init_from"]["sha256"] == entry.sha256
    # a fine-tune validates its starting adapters (step 0) too, so --keep-best can keep them
    validated = _train(tmp_path, registry, "decoder", init_from="sfma-tiny-q1-decoder", steps=1, export=False,
                       validate_every=1, keep_best=True, checkpoint_dir=tmp_path / "run-validated", data=data)
    log = [json.loads(line) for line in (tmp_path / "run-validated" / "train_log.jsonl").read_text().splitlines()]
    checks = [r for r in log if "validation" in r]
    assert [r["step"] for r in checks] == [0, 1]
    scores = [(r["validation"]["accuracy"], r["validation"]["auc"]) for r in checks]
    assert validated["kept_validation"]["step"] == checks[scores.index(max(scores))]["step"]
    with pytest.raises(FccError, match="init_from"):
        _train(tmp_path, registry, "decoder", steps=2, resume=True, export=False, checkpoint_dir=tmp_path / "run-by-file",
               data=data)


def test_init_from_refuses_what_cannot_be_a_start(tmp_path: Path, registry: Path) -> None:
    from safetensors.torch import save_file

    from forensiccodec.train.forensic_training import start_from_adapters

    base_sha = Manifest.load(registry).entries["tic-tiny-q1"].sha256
    codec, _ = build_trainable_codec(tiny_base(), "decoder")
    good = {k: v for k, v in codec.state_dict().items() if k.startswith("decoder_sfmas.")}

    def adapter_file(name: str, tensors: dict, **metadata: str) -> str:
        path = tmp_path / name
        save_file(tensors, path, metadata={"kind": "adapters", "placement": "decoder", "base_sha256": base_sha, **metadata})
        return str(path)

    cases = [
        ("no-such-set", "neither an adapter file nor"),
        (adapter_file("other-base.safetensors", good, base_sha256="0" * 64), "trained on base codec"),
        (adapter_file("encoder-only.safetensors", {"encoder_sfmas.0.s_up.weight": torch.zeros(1)}), "no decoder adapters"),
        (adapter_file("misshapen.safetensors", {**good, next(iter(good)): torch.zeros(2, 2)}), "do not fit"),
    ]
    for source, message in cases:
        with pytest.raises(FccError, match=message) as error:
            start_from_adapters(codec, source, "decoder", base_sha, registry)
        assert "\n" not in str(error.value)
    with pytest.raises(FccError, match="full fine-tuning"):
        _train(tmp_path, registry, "full", init_from="no-such-set")

    # adapters trained without Swin's mask in g_a/g_s (public Adapt-ICMH) keep running without it
    unmasked = adapter_file("unmasked.safetensors", good, shifted_window_mask="false")
    start_from_adapters(codec, unmasked, "decoder", base_sha, registry)
    assert codec.shifted_window_mask is False
