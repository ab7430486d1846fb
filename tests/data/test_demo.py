import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensiccodec.data import demo
from forensiccodec.data.demo import (
    DemoDataError,
    DemoSettings,
    build_demo_data,
    select_val_groups,
    tile_grid,
)
from forensiccodec.data.generators import (
    UPSAMPLING_DESIGNS,
    GeneratorConfig,
    TrainingConfig,
)
from forensiccodec.data.layout import RealSyntheticDataset, scan_split

TINY = DemoSettings(
    tile_size=16, val_fraction=0.3, context=8,
    generator=GeneratorConfig(width=4, latent_channels=4, stages=2),
    training=TrainingConfig(steps=2, batch_size=2, crop_sizes=(16,)),
)
# (name, package, split): 5 train groups (a stereo pair is one), 1 holdout photograph
PHOTOS = [("a-one", "a", "train"), ("a-two", "a", "train"), ("a-pair_left", "a", "train"),
          ("a-pair_right", "a", "train"), ("b-one", "b", "train"), ("b-two", "b", "train"),
          ("b-held", "b", "holdout")]


def make_photos(folder: Path, photos: list[tuple[str, str, str]] = PHOTOS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    records = []
    for name, package, split in photos:
        (folder / split).mkdir(parents=True, exist_ok=True)
        smooth = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
        image = Image.fromarray(smooth).resize((50, 34), Image.BILINEAR)  # 3x2 tiles of 16
        image.save(folder / split / f"{name}.png")
        records.append({"file": f"{split}/{name}.png", "name": name, "source_package": package, "split": split})
    (folder / "photos.json").write_text(json.dumps({"photos": records}))
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def built(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "set"
    summary = build_demo_data(out, photos_dir=photos, seed=1, progress=False, settings=TINY)
    return out, summary, json.loads((out / "manifest.json").read_text())


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_is_balanced_and_readable(built):
    out, summary, manifest = built
    for split in ("train", "val", "test"):
        items = scan_split(out, split)
        labels = [label for _, label in items]
        assert labels.count(0) == labels.count(1) > 0
        assert summary.counts[split] == {"real": labels.count(0), "synthetic": labels.count(1)}
    image, label = RealSyntheticDataset(out, "test")[0]
    assert image.shape == (3, 16, 16) and label == 0
    assert {i["file"] for i in manifest["images"]} == {
        str(p.relative_to(out)) for p in out.rglob("*.png")}
    assert (out / "README.md").read_text().startswith("# Demo real-vs-synthetic")


def test_splits_follow_source_photographs(built):
    _, summary, manifest = built
    split_of: dict[str, set[str]] = {}
    for image in manifest["images"]:
        split_of.setdefault(image["source_photo"], set()).add(image["split"])
    assert all(len(splits) == 1 for splits in split_of.values())
    assert summary.photos["test"] == ["b-held"]
    assert split_of["a-pair_left"] == split_of["a-pair_right"]  # one scene, one split
    assert summary.photos["val"] and set(summary.photos["val"]).isdisjoint(summary.photos["train"])


def test_classes_use_different_tiles_and_every_generator_in_train(built, photos):
    out, _, manifest = built
    real = {(i["source_photo"], tuple(i["box"])) for i in manifest["images"] if i["label"] == "real"}
    synthetic = {(i["source_photo"], tuple(i["box"])) for i in manifest["images"] if i["label"] == "synthetic"}
    assert real.isdisjoint(synthetic)
    train_designs = {i["generator"] for i in manifest["images"] if i["split"] == "train" and i["generator"]}
    assert train_designs == set(UPSAMPLING_DESIGNS)
    first = next(i for i in manifest["images"] if i["label"] == "real")
    left, top, right, bottom = first["box"]
    source = np.asarray(Image.open(photos / "train" / f"{first['source_photo']}.png"))
    if first["split"] == "test":
        source = np.asarray(Image.open(photos / "holdout" / f"{first['source_photo']}.png"))
    assert np.array_equal(np.asarray(Image.open(out / first["file"])), source[top:bottom, left:right])


def test_rebuild_is_byte_identical_and_seed_changes_only_synthetic(built, photos, tmp_path):
    out, _, _ = built
    again = tmp_path / "again"
    build_demo_data(again, photos_dir=photos, seed=1, progress=False, settings=TINY)
    assert _hashes(again) == _hashes(out)
    other = tmp_path / "other"
    build_demo_data(other, photos_dir=photos, seed=2, progress=False, settings=TINY)
    first, second = _hashes(out), _hashes(other)
    assert all(first[f] == second[f] for f in first if "/real/" in f)
    assert any(first[f] != second[f] for f in first if "/synthetic/" in f)


def test_rebuild_in_place_removes_stale_images_and_refuses_foreign_folders(photos, tmp_path):
    out = tmp_path / "set"
    build_demo_data(out, photos_dir=photos, progress=False, settings=TINY)
    stale = out / "train" / "real" / "old.png"
    stale.write_bytes(b"x")
    build_demo_data(out, photos_dir=photos, progress=False, settings=TINY)
    assert not stale.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(DemoDataError, match="not made by"):
        build_demo_data(foreign, photos_dir=photos, progress=False, settings=TINY)


def test_paired_mode_uses_every_tile_in_both_classes(photos, tmp_path):
    paired = DemoSettings(**{**TINY.__dict__, "paired": True})
    summary = build_demo_data(tmp_path / "p", photos_dir=photos, progress=False, settings=paired)
    assert summary.counts["test"] == {"real": 6, "synthetic": 6}


def test_a_training_stride_adds_overlapping_train_tiles_and_leaves_val_and_test_alone(built, photos, tmp_path):
    out, summary, _ = built
    dense = DemoSettings(**{**TINY.__dict__, "train_stride": 8})
    dense_summary = build_demo_data(tmp_path / "d", photos_dir=photos, seed=1, progress=False, settings=dense)
    # 50x34 photographs: 3x2 tiles of 16 without overlap, 5x3 every 8 px
    assert dense_summary.counts["train"]["real"] > 2 * summary.counts["train"]["real"]
    for split in ("val", "test"):
        assert dense_summary.counts[split] == summary.counts[split]
        assert _hashes(tmp_path / "d" / split) == _hashes(out / split)
    boxes = [tuple(i["box"]) for i in json.loads((tmp_path / "d" / "manifest.json").read_text())["images"]
             if i["split"] == "train" and i["source_photo"] == "a-one"]
    assert (1, 1, 17, 17) in boxes and (9, 1, 25, 17) in boxes  # overlapping neighbours
    with pytest.raises(DemoDataError, match="stride"):
        build_demo_data(tmp_path / "e", photos_dir=photos, progress=False,
                        settings=DemoSettings(**{**TINY.__dict__, "train_stride": 17}))


def test_extra_training_photographs_add_train_tiles_and_leave_val_test_and_generators_alone(built, photos, tmp_path):
    out, summary, manifest = built
    extra = make_photos(tmp_path / "extra", [("c-one", "c", "train"), ("c-held", "c", "holdout")], seed=5)
    more = build_demo_data(tmp_path / "m", photos_dir=photos, seed=1, progress=False, settings=TINY,
                           extra_train_photos_dir=extra)
    assert more.counts["train"]["real"] == summary.counts["train"]["real"] + 6  # 2 x 6 tiles, alternating
    assert {"c-one", "c-held"} <= set(more.photos["train"])  # holdout ones too: training content only
    for split in ("val", "test"):
        assert more.photos[split] == summary.photos[split]
        assert _hashes(tmp_path / "m" / split) == _hashes(out / split)
    more_manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert more_manifest["generators"] == manifest["generators"]  # trained on the same photographs
    assert {p["name"] for p in more_manifest["photos"] if p.get("extra_train")} == {"c-one", "c-held"}
    assert "extra_train_photos_dir" not in manifest and "extra_train" not in str(manifest["photos"])
    with pytest.raises(DemoDataError, match="repeats photograph"):
        build_demo_data(tmp_path / "n", photos_dir=photos, progress=False, settings=TINY, extra_train_photos_dir=photos)
    with pytest.raises(DemoDataError, match="no photos.json"):
        build_demo_data(tmp_path / "n", photos_dir=photos, progress=False, settings=TINY, extra_train_photos_dir=tmp_path)
    assert not (tmp_path / "n").exists()  # refused before anything was written


def test_extra_val_photographs_add_val_tiles_after_the_main_ones_and_leave_the_rest_alone(built, photos, tmp_path):
    out, summary, manifest = built
    extra = make_photos(tmp_path / "extra", [("c-one", "c", "train"), ("c-held", "c", "holdout")], seed=5)
    more = build_demo_data(tmp_path / "m", photos_dir=photos, seed=1, progress=False, settings=TINY,
                           extra_val_photos_dir=extra)
    assert more.counts["val"]["real"] == summary.counts["val"]["real"] + 6  # 2 x 6 tiles, alternating
    assert set(more.photos["val"]) == set(summary.photos["val"]) | {"c-one", "c-held"}
    for split in ("train", "test"):
        assert more.counts[split] == summary.counts[split]
        assert _hashes(tmp_path / "m" / split) == _hashes(out / split)
    main_val = _hashes(out / "val")
    assert {k: v for k, v in _hashes(tmp_path / "m" / "val").items() if k in main_val} == main_val
    more_manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert more_manifest["generators"] == manifest["generators"]
    assert {p["name"] for p in more_manifest["photos"] if p.get("extra_val")} == {"c-one", "c-held"}
    assert more_manifest["extra_val_photos_dir"] == str(extra) and "extra_train_photos_dir" not in more_manifest
    # both at once, from different folders; one folder for both is a name clash, refused before writing
    other = make_photos(tmp_path / "other", [("d-one", "d", "train")], seed=6)
    both = build_demo_data(tmp_path / "b", photos_dir=photos, seed=1, progress=False, settings=TINY,
                           extra_train_photos_dir=other, extra_val_photos_dir=extra)
    assert "d-one" in both.photos["train"] and "c-one" in both.photos["val"]
    with pytest.raises(DemoDataError, match="repeats photograph"):
        build_demo_data(tmp_path / "n", photos_dir=photos, progress=False, settings=TINY,
                        extra_train_photos_dir=extra, extra_val_photos_dir=extra)
    with pytest.raises(DemoDataError, match="--extra-val-photos"):
        build_demo_data(tmp_path / "n", photos_dir=photos, progress=False, settings=TINY, extra_val_photos_dir=tmp_path)
    assert not (tmp_path / "n").exists()


def test_missing_photos_are_collected_or_explained(photos, tmp_path, monkeypatch):
    import forensiccodec.data.photos as photo_module

    calls = []

    def fake_collect(out_dir, **kwargs):
        calls.append(kwargs)
        make_photos(Path(out_dir))

    monkeypatch.setattr(photo_module, "collect_photos", fake_collect)
    build_demo_data(tmp_path / "out", photos_dir=tmp_path / "fresh", progress=False, settings=TINY)
    assert len(calls) == 1 and (tmp_path / "fresh" / "photos.json").is_file()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.png").write_bytes(b"x")
    with pytest.raises(DemoDataError, match="no photos.json"):
        build_demo_data(tmp_path / "out2", photos_dir=tmp_path / "junk", progress=False, settings=TINY)


def test_tiles_too_large_for_the_photographs_are_an_error(photos, tmp_path):
    with pytest.raises(DemoDataError, match="no train images"):
        build_demo_data(tmp_path / "o", photos_dir=photos, progress=False,
                        settings=DemoSettings(**{**TINY.__dict__, "tile_size": 64}))
    with pytest.raises(DemoDataError, match="multiple of 4"):
        build_demo_data(tmp_path / "o", photos_dir=photos, progress=False, tile_size=30)


def test_tile_grid_is_centred_and_non_overlapping():
    assert tile_grid(480, 768, 256) == [(0, 112, 256, 368), (256, 112, 512, 368), (512, 112, 768, 368)]
    assert tile_grid(100, 100, 256) == []
    assert tile_grid(480, 768, 256, 256) == tile_grid(480, 768, 256)


def test_tile_grid_with_a_stride_overlaps_and_stays_centred():
    boxes = tile_grid(480, 768, 256, 128)
    assert len(boxes) == 2 * 5
    assert boxes[0] == (0, 48, 256, 304) and boxes[1] == (128, 48, 384, 304) and boxes[-1] == (512, 176, 768, 432)


def test_val_groups_mix_packages_and_never_take_everything():
    groups = {f"a{i}": "a" for i in range(8)} | {f"b{i}": "b" for i in range(4)}
    chosen = select_val_groups(groups, 0.25)
    assert len(chosen) == 3 and {g[0] for g in chosen} == {"a", "b"}
    assert chosen == select_val_groups(dict(reversed(list(groups.items()))), 0.25)
    assert len(select_val_groups({"x": "a", "y": "a"}, 0.0)) == 1  # at least one
    assert len(select_val_groups({"x": "a", "y": "a"}, 0.9)) == 1
    assert select_val_groups({"x": "a"}, 0.5) == set()


def test_photo_group_joins_stereo_views():
    assert demo.photo_group({"name": "skimage-motorcycle_left"}) == demo.photo_group({"name": "skimage-motorcycle_right"})
    assert demo.photo_group({"name": "x", "group": "g"}) == "g"


ALL_FAMILIES = DemoSettings(
    tile_size=16, val_fraction=0.3, context=8, paired=True,
    generator=GeneratorConfig(width=4, latent_channels=4, stages=2),
    training=TrainingConfig(steps=2, batch_size=2, crop_sizes=(16,)),
    families=("upsampling", "deep-autoencoder", "vae", "diffusion", "codec"),
    family_training=TrainingConfig(steps=2, batch_size=2, crop_sizes=(16,)),
)


@pytest.fixture(scope="module")
def families_built(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("families") / "set"
    summary = build_demo_data(out, photos_dir=photos, seed=1, progress=False, settings=ALL_FAMILIES)
    return out, summary, json.loads((out / "manifest.json").read_text())


def test_every_family_makes_images_in_turn(families_built):
    out, summary, manifest = families_built
    families = manifest["families"]
    assert list(families) == list(ALL_FAMILIES.families)
    owner = {g: f for f, record in families.items() for g in record["generators"]}
    synthetic = [i for i in manifest["images"] if i["label"] == "synthetic" and i["split"] == "train"]
    # families take turns, so the first five synthetic tiles of a split come from five families
    assert [owner[i["generator"]] for i in synthetic[:5]] == list(ALL_FAMILIES.families)
    assert {r.design for r in summary.generators} == set(owner)
    for image in synthetic:
        assert (out / image["file"]).is_file() and np.isfinite(image["psnr_db"])


def test_families_build_is_reproducible_and_default_manifest_has_no_family_keys(families_built, built, photos, tmp_path):
    out, _, _ = families_built
    again = tmp_path / "again"
    build_demo_data(again, photos_dir=photos, seed=1, progress=False, settings=ALL_FAMILIES)
    assert _hashes(out) == _hashes(again)
    _, _, default_manifest = built
    assert "families" not in default_manifest and "families" not in default_manifest["settings"]


def test_several_photo_folders_each_give_test_tiles(photos, tmp_path):
    more = make_photos(tmp_path / "more", [("c-one", "c", "train"), ("c-two", "c", "train"), ("c-held", "c", "holdout")], seed=3)
    out = tmp_path / "set"
    build_demo_data(out, photos_dir=[photos, more], seed=1, progress=False, settings=TINY)
    manifest = json.loads((out / "manifest.json").read_text())
    test_photos = {i["source_photo"] for i in manifest["images"] if i["split"] == "test"}
    assert test_photos == {"b-held", "c-held"}
    assert manifest["more_photos_dirs"] == [str(more)]
    clash = tmp_path / "clash"
    make_photos(clash, [("a-one", "a", "train"), ("z-held", "z", "holdout")])
    with pytest.raises(DemoDataError, match="repeats photograph"):
        build_demo_data(tmp_path / "set2", photos_dir=[photos, clash], seed=1, progress=False, settings=TINY)


def test_unknown_family_is_refused(photos, tmp_path):
    with pytest.raises(DemoDataError, match="unknown generator family"):
        build_demo_data(tmp_path / "x", photos_dir=photos, progress=False,
                        settings=DemoSettings(tile_size=16, families=("gan",)))
