"""Phone numbers through libphonenumber: national formats of 14 regions with a region hint from
config, international forms whatever the hint, and the digit traps (issue 15)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmops.errors import ConfigError
from llmops.guards import GuardsConfig
from llmops.guards.base import CheckContext
from llmops.guards.pii import PiiGuard, PiiOptions, find_pii

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "guards"))
import pii_regions  # noqa: E402


def _score(region_filter: str | None = None) -> tuple[int, int, int, list[str]]:
    found = total = false = 0
    misses: list[str] = []
    for row in pii_regions.rows():
        if region_filter and row["region"] != region_filter:
            continue
        pred = {(s.start, s.end, s.type) for s in find_pii(row["text"], regions=[row["region"]])}
        gold = {(s["start"], s["end"], s["type"]) for s in row["spans"]}
        total += len(gold)
        found += len(gold & pred)
        false += len(pred - gold)
        misses += [f"{row['region']}: {row['text']}" for _ in gold - pred]
    return found, total, false, misses


def test_national_formats_of_many_regions() -> None:
    regions = {r["region"] for r in pii_regions.rows() if r["kind"] == "national"}
    assert len(regions) >= 10
    found, total, false, misses = _score()
    # Two GB numbers are in Ofcom's drama ranges, which libphonenumber does not call valid.
    assert found >= total - 2, misses
    assert false == 0


@pytest.mark.parametrize("region", sorted(pii_regions.NATIONAL))
def test_each_region_finds_its_numbers(region: str) -> None:
    found, total, false, misses = _score(region)
    assert found >= total - 2 and false == 0, misses


def test_national_formats_need_the_region_hint() -> None:
    text = "Call me on 020 7946 0958 after six."
    assert [s.text for s in find_pii(text, regions=["GB"])] == ["020 7946 0958"]
    assert find_pii(text, regions=["US"]) == []  # not a valid US number
    assert [s.text for s in find_pii("dial 0044 20 7946 0958", regions=["US"])] == [
        "0044 20 7946 0958"
    ]


def test_region_hint_from_config_and_bad_region() -> None:
    config = GuardsConfig.model_validate(
        {"input": [{"name": "pii", "on_fail": "fix", "options": {"regions": ["gb", "DE"]}}]}
    )
    options = config.input[0].parsed_options()
    assert isinstance(options, PiiOptions) and options.regions == ["GB", "DE"]
    text = "Ring 0151 23456789 (Berlin) or 020 7946 0321 (London)."
    result = PiiGuard("pii", None, options).check(text, CheckContext())
    assert [s.text for s in result.spans] == ["0151 23456789", "020 7946 0321"]
    assert result.fixed == "Ring [PHONE_1] (Berlin) or [PHONE_2] (London)."
    only_gb = PiiGuard("pii", None, PiiOptions(regions=["GB"])).check(text, CheckContext())
    assert [s.text for s in only_gb.spans] == ["020 7946 0321"]
    with pytest.raises((ValueError, ConfigError)) as err:
        GuardsConfig.model_validate({"input": [{"name": "pii", "options": {"regions": ["UK"]}}]})
    assert "unknown phone region 'UK'" in str(err.value)
