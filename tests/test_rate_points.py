"""The four rate points: the paper's adapter λ, the base-codec quality, the TransTIC λ."""

from __future__ import annotations

import pytest

from forensiccodec.errors import UsageError
from forensiccodec.rate_points import (
    RATE_POINTS,
    rate_point_for_lambda,
    rate_point_for_quality,
    resolve_rate_point,
)

PAPER = [(1, 0.02, 0.0018), (2, 0.03, 0.0035), (3, 0.045, 0.0067), (4, 0.07, 0.013)]


def test_the_table_is_the_papers():
    assert [(p.quality, p.lmbda, p.codec_lambda) for p in RATE_POINTS] == PAPER


@pytest.mark.parametrize(("quality", "lmbda", "codec_lambda"), PAPER)
def test_lambda_and_quality_name_the_same_point(quality, lmbda, codec_lambda):
    assert rate_point_for_lambda(lmbda) is rate_point_for_quality(quality)
    assert resolve_rate_point(lmbda, None).quality == quality
    assert resolve_rate_point(None, quality).lmbda == lmbda
    assert resolve_rate_point(lmbda, quality).codec_lambda == codec_lambda


def test_lambda_given_as_parsed_from_text_matches():
    assert rate_point_for_lambda(float("0.045")).quality == 3
    assert rate_point_for_lambda(0.03 + 1e-12).quality == 2


def test_default_is_quality_3():
    assert resolve_rate_point(None, None).quality == 3
    assert resolve_rate_point(None, None, default_quality=1).lmbda == 0.02


@pytest.mark.parametrize("lmbda", [0.0, 0.05, 0.0067, 1.0, -0.02])
def test_unknown_lambda_lists_the_valid_values(lmbda):
    with pytest.raises(UsageError) as raised:
        rate_point_for_lambda(lmbda)
    message = str(raised.value)
    assert "0.02, 0.03, 0.045, 0.07" in message and "\n" not in message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize("quality", [0, 5, -1])
def test_unknown_quality_is_refused(quality):
    with pytest.raises(UsageError, match=f"unknown quality {quality}; valid qualities are 1, 2, 3, 4"):
        rate_point_for_quality(quality)


def test_conflicting_lambda_and_quality_are_refused():
    with pytest.raises(UsageError, match=r"--lambda 0\.07 is quality 4, but --quality 1 was given"):
        resolve_rate_point(0.07, 1)
