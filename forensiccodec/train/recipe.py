"""Training recipes: the experiment settings of a training command, in a TOML file.

A recipe has one table per command (``[train-adapter]``, ``[train-codec]``, ``[train-detector]``)
whose keys are that command's option names (``lambda-scale = 10``); ``fcc train-adapter --recipe
FILE`` takes them as the options' defaults, and what the command line gives still wins. So the
command line keeps the options users need and a knob that one experiment needs lives in that
experiment's recipe. ``--recipe paper`` (the default) names the shipped recipe of the paper
(`forensiccodec/recipes/paper.toml`). Reads without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forensiccodec.errors import UsageError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SHIPPED_RECIPES = Path(__file__).resolve().parent.parent / "recipes"
DEFAULT_RECIPE = "paper"


def recipe_path(name_or_path: str) -> Path:
    """A shipped recipe by name (``paper``), or a TOML file."""
    shipped = SHIPPED_RECIPES / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in SHIPPED_RECIPES.glob("*.toml")))
        raise UsageError(f"--recipe {name_or_path}: neither a shipped recipe ({names}) nor a file")
    return path


def load_recipe(name_or_path: str, command: str) -> dict[str, Any]:
    """The settings a recipe gives ``command``, keyed by option name without dashes
    (``lambda-scale`` and ``lambda_scale`` both become ``lambda_scale``); {} when it has none."""
    path = recipe_path(name_or_path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"--recipe {path}: not a readable TOML file ({str(error).splitlines()[0]})") from None
    section = table.get(command, {})
    if not isinstance(section, dict):
        raise UsageError(f"--recipe {path}: [{command}] must be a table of option = value")
    return {key.replace("-", "_"): value for key, value in section.items()}
