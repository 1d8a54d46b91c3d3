"""``llmops.testing`` exports only its own helpers (the list is pinned in tests/core)."""

from __future__ import annotations

import llmops.testing


def test_testing_exports_are_defined_in_the_package() -> None:
    for name in llmops.testing.__all__:
        assert getattr(llmops.testing, name).__module__.startswith("llmops.testing")
