"""The package's lazy re-exports: every name resolves to the object of the module it names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import forensiccodec


@pytest.mark.parametrize("name", sorted(forensiccodec._EXPORTS))
def test_every_exported_name_resolves_to_its_module_object(name: str) -> None:
    module = importlib.import_module(forensiccodec._EXPORTS[name])
    assert getattr(forensiccodec, name) is getattr(module, name)
    assert name in forensiccodec.__all__


def test_all_lists_exactly_the_exports() -> None:
    assert sorted(forensiccodec.__all__) == sorted([*forensiccodec._EXPORTS, "__version__"])


def test_adapter_loaders_are_exported() -> None:
    from forensiccodec.adapters import load_adapted_codec, load_finetuned_codec

    assert forensiccodec.load_adapted_codec is load_adapted_codec
    assert forensiccodec.load_finetuned_codec is load_finetuned_codec


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        forensiccodec.no_such_name  # noqa: B018


def test_importing_the_package_imports_no_submodule() -> None:
    code = "import sys, forensiccodec; print(sorted(m for m in sys.modules if m.startswith('forensiccodec.')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
