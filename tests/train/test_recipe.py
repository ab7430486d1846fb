"""Training recipes: a TOML table per command gives option defaults; the command line wins; the
shipped paper recipe is what the commands do without one."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from forensiccodec.cli import main
from forensiccodec.cli.common import recipe_option
from forensiccodec.errors import UsageError
from forensiccodec.train.recipe import load_recipe


@click.command("train-adapter")
@recipe_option
@click.option("--lambda-scale", type=float, default=1.0)
@click.option("--patches", "k_patches", type=int, default=50)
@click.option("--patch-aggregate", type=click.Choice(["mean", "top"]), default="mean")
def probe(lambda_scale: float, k_patches: int, patch_aggregate: str) -> None:
    click.echo(f"{lambda_scale} {k_patches} {patch_aggregate}")


def write(tmp_path, text: str):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return str(path)


def test_a_recipe_sets_defaults_and_the_command_line_wins(tmp_path):
    recipe = write(tmp_path, '[train-adapter]\nlambda-scale = 10\npatch_aggregate = "top"\n[train-codec]\npatches = 3\n')
    runner = CliRunner()
    assert runner.invoke(probe, ["--recipe", recipe]).output.split() == ["10.0", "50", "top"]
    assert runner.invoke(probe, ["--lambda-scale", "2", "--recipe", recipe]).output.split() == ["2.0", "50", "top"]
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert runner.invoke(probe, ["--recipe", str(empty)]).output.split() == ["1.0", "50", "mean"]


def test_bad_recipes_are_refused(tmp_path):
    with pytest.raises(UsageError, match="neither a shipped recipe"):
        load_recipe(str(tmp_path / "missing.toml"), "train-adapter")
    with pytest.raises(UsageError, match="not a readable TOML"):
        load_recipe(write(tmp_path, "[train-adapter\n"), "train-adapter")
    result = CliRunner().invoke(probe, ["--recipe", write(tmp_path, "[train-adapter]\nlearning-rate = 1\n")])
    assert result.exit_code != 0 and "has no option learning_rate" in str(result.exception or result.output)


@pytest.mark.parametrize("command", ["train-adapter"])
def test_the_paper_recipe_is_what_the_commands_do_by_default(command):
    """The shipped default recipe changes nothing: each of its values is the option's own default."""
    settings = load_recipe("paper", command)
    assert settings
    params = {opt.lstrip("-").replace("-", "_"): p for p in main.commands[command].params for opt in p.opts}
    for key, value in settings.items():
        assert params[key].default == value, (command, key)


def test_fcc_refuses_an_unknown_recipe_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["train-adapter", "--recipe", "nonsense", "--data", str(tmp_path), "-q", "1"])
    assert result.exit_code == 2 and "neither a shipped recipe" in result.output
