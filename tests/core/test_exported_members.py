"""The public API is curated: every name in ``__all__`` resolves, and nothing else is public.

The pinned packages' exact ``__all__`` lists live in ``public_api.json`` next to this file: a
change to a public API is a change to that one file (sorted names per package).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import llmops

PACKAGES = [
    "llmops",
    "llmops.providers",
    "llmops.prompts",
    "llmops.rag",
    "llmops.gateway",
    "llmops.guards",
    "llmops.evals",
    "llmops.dashboard",
    "llmops.mlmodels",
    "llmops.monitor",
    "llmops.traces",
    "llmops.testing",
    "llmops.transport",
    "llmops.vllm",
]


def test_top_level_all_resolves() -> None:
    for name in llmops.__all__:
        assert getattr(llmops, name) is not None, name


@pytest.mark.parametrize("package", PACKAGES)
def test_subpackage_all_is_exact(package: str) -> None:
    module = importlib.import_module(package)
    exported = set(module.__all__)
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} listed in __all__ but missing"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and getattr(v, "__module__", "").startswith("llmops")
        and not isinstance(v, type(importlib))
    }
    assert public <= exported | {"annotations"}, sorted(public - exported)


PINNED: dict[str, list[str]] = json.loads(
    (Path(__file__).with_name("public_api.json")).read_text("utf-8")
)


@pytest.mark.parametrize("package", sorted(PINNED))
def test_pinned_all_is_unchanged(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PINNED[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        llmops.no_such_name  # noqa: B018
