"""Producing each setting's encoded file and decoded PNG for one image, through the cache.

Learned settings go through :func:`forensiccodec.api.encode_file` and
:func:`~forensiccodec.api.decode_file`, so their bpp is the real ``.fcc`` file's size, the
number ``fcc info`` reports. JPEG and WebP are matched per image: the quality 1..100 whose bpp
is closest to the base codec's measured bpp on the same image at the same rate point
(:func:`forensiccodec.evaluate.classic_codecs.match_bpp`), so each classic point sits at the
base codec's mean bpp up to the quality step.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from forensiccodec.errors import FccError
from forensiccodec.evaluate.classic_codecs import code_image, match_bpp
from forensiccodec.files import atomic_write_bytes
from forensiccodec.images import load_image, save_png, to_uint8

from .cache import CacheEntry
from .settings import CLASSIC, LEARNED, Setting, setting_by_name


# How the report describes the classic codecs' matching (report.json's ``classic_matching``).
CLASSIC_MATCHING = (
    "JPEG and WebP are coded per image at the quality (1..100) whose bpp is closest to the base codec's"
    " measured .fcc bpp on the same image at the same rate point; each point is plotted at its own mean bpp"
)


class SettingUnavailable(FccError):
    """A setting cannot run here (weights or code not installed): skipped, with this reason."""


@dataclass
class Produced:
    """One image under one setting: where its files are and what coding them cost."""

    decoded: Path
    encoded: Path | None
    bpp: float | None  # None for the uncompressed original
    encode_seconds: float | None
    decode_seconds: float | None
    quality: int | None = None  # the JPEG/WebP quality chosen
    reused: bool = False  # taken from the cache, not coded again


class Producer:
    """Codes images under the learned and classic settings, loading each codec once."""

    def __init__(self, config_name: str = "small", weights_dir: Path | None = None) -> None:
        from forensiccodec.api import CodecStore

        self.config_name = config_name
        self.weights_dir = weights_dir
        self.store = CodecStore(weights_dir)
        self._encoders: dict[tuple[str, int], Any] = {}
        self._weights: dict[tuple[str, int], dict[str, str]] = {}
        self.encode_count = 0  # files coded in this run (the tests check that resuming codes none)

    # ---- availability ----------------------------------------------------------------------

    def check_available(self, setting: Setting, rate: int | None) -> None:
        """Raise :class:`SettingUnavailable` with the reason if ``setting`` cannot run at ``rate``."""
        if setting.kind == CLASSIC:
            self.check_available(setting_by_name("base"), rate)  # its bpp sets the target
        elif setting.kind == LEARNED:
            assert rate is not None
            self._encoder(setting, rate)

    def _encoder(self, setting: Setting, rate: int) -> Any:
        key = (setting.name, rate)
        if key not in self._encoders:
            try:
                self._encoders[key] = self._load_encoder(setting, rate)
            except FccError as error:
                raise SettingUnavailable(str(error)) from None
        return self._encoders[key]

    def _load_encoder(self, setting: Setting, rate: int) -> Any:
        """The codec that encodes for ``setting``; loading what its decoder needs checks that too."""
        if not hasattr(self.store, "for_encoding"):  # an fcc without forensic adapters
            if setting.placement is not None or setting.finetuned:
                raise SettingUnavailable("the adapter code is not part of this version of fcc")
            return self.store.get(self.config_name, rate)
        if setting.placement == "decoder":
            return self._decoder_adapters_base(rate)
        codec = "finetuned" if setting.finetuned else "base"
        return self.store.for_encoding(self.config_name, rate, codec=codec, adapters=setting.encoder_adapters)

    def _decoder_adapters_base(self, rate: int) -> Any:
        """The base codec the registered decoder adapters run on: the installed one, or, for
        adapters trained before their rate point's codec was retrained, the retired codec they
        were trained in (a file from the installed codec would be refused at decoding)."""
        adapted = self.store.adapted(self.config_name, rate, "decoder")  # decode_file(adapters="forensic") uses these
        base = self.store.get(self.config_name, rate)
        if adapted.fingerprint == base.fingerprint:
            return base
        retired = self.store.retired(self.config_name, rate, adapted.fingerprint)
        if retired is None:
            raise SettingUnavailable(f"{adapted.adapters_entry} run on a base codec that is neither installed nor retired here")
        return retired

    def weights_used(self, setting: Setting, rate: int) -> dict[str, str]:
        """Manifest name -> sha256 of the weight files behind ``setting`` at ``rate`` (JPEG and
        WebP: the base codec's, whose bpp they match). A cached file is reused only for these."""
        from forensiccodec.adapters import adapter_entry_name, finetuned_entry_name
        from forensiccodec.zoo import Manifest

        key = (setting.name, rate)
        if key not in self._weights:
            manifest = Manifest.load(self.weights_dir)
            if setting.finetuned:
                names = [finetuned_entry_name(self.config_name, rate)]
            else:
                names = [manifest.codec_entry(self.config_name, rate).name]
                if setting.placement is not None:
                    names.append(adapter_entry_name(self.config_name, rate, setting.placement))
            used = {name: manifest.entries[name].sha256 for name in names if name in manifest.entries}
            if setting.placement is not None:
                # adapters run on the base codec they were trained in, retired since or not
                adapted = self.store.adapted(self.config_name, rate, setting.placement)
                if adapted.retired_entry:
                    del used[names[0]]
                    used = {adapted.retired_entry: adapted.sha256, **used}
            self._weights[key] = used
        return self._weights[key]

    # ---- coding ----------------------------------------------------------------------------

    def produce(self, setting: Setting, rate: int | None, image: Path, entry: CacheEntry,
                base_bpp: float | None = None) -> Produced:
        """The setting's decoded image of ``image``, from the cache when it is there."""
        if setting.kind not in (LEARNED, CLASSIC):
            return Produced(decoded=image, encoded=None, bpp=None, encode_seconds=None, decode_seconds=None)
        assert rate is not None
        weights = self.weights_used(setting, rate)
        record = entry.read_record()
        if entry.has_decoded() and record.get("weights") == weights:
            assert entry.encoded is not None
            pixels = load_image(image).info
            return Produced(
                decoded=entry.decoded, encoded=entry.encoded,
                bpp=8 * entry.encoded.stat().st_size / (pixels.width * pixels.height),
                encode_seconds=record.get("encode_seconds"), decode_seconds=record.get("decode_seconds"),
                quality=record.get("quality"), reused=True,
            )
        # New or other weights: the scores, PSNR and features of an earlier file are stale too.
        record = {"weights": weights}
        entry.clear_features()
        entry.directory.mkdir(parents=True, exist_ok=True)
        self.encode_count += 1
        if setting.kind == LEARNED:
            produced = self._code_learned(setting, rate, image, entry)
        else:
            if base_bpp is None:
                raise SettingUnavailable(f"{setting.name}: no base-codec bpp to match")
            produced = self._code_classic(setting, image, entry, base_bpp)
        record.update(bpp=produced.bpp, encode_seconds=produced.encode_seconds,
                      decode_seconds=produced.decode_seconds, quality=produced.quality)
        entry.write_record(record)
        return produced

    def _code_learned(self, setting: Setting, rate: int, image: Path, entry: CacheEntry) -> Produced:
        from forensiccodec.api import decode_file, encode_file

        assert entry.encoded is not None
        encoded = encode_file(self._encoder(setting, rate), image, entry.encoded, overwrite=True,
                              adapters=setting.encoder_adapters)
        decoded = decode_file(self.store, entry.encoded, entry.decoded, overwrite=True,
                              adapters=setting.decoder_adapters)
        return Produced(entry.decoded, entry.encoded, encoded.bpp, encoded.seconds, decoded.seconds)

    def _code_classic(self, setting: Setting, image: Path, entry: CacheEntry, target_bpp: float) -> Produced:
        assert entry.encoded is not None
        pixels = to_uint8(load_image(image).pixels)
        quality = match_bpp(pixels, target_bpp, setting.name).quality
        started = time.perf_counter()
        data, _ = code_image(pixels, setting.name, quality)
        coded_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with Image.open(io.BytesIO(data)) as picture:
            decoded = picture.convert("RGB")
        decode_seconds = time.perf_counter() - started
        atomic_write_bytes(entry.encoded, data, overwrite=True)
        from torchvision.transforms.functional import pil_to_tensor

        save_png(pil_to_tensor(decoded).float() / 255.0, entry.decoded, overwrite=True)
        height, width = pixels.shape[:2]
        # code_image encodes then decodes; the encoder's share is its time less a decode.
        return Produced(entry.decoded, entry.encoded, 8 * len(data) / (height * width),
                        max(coded_seconds - decode_seconds, 0.0), decode_seconds, quality=quality)
