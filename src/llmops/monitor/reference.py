"""Reference queries for the drift test: a golden set's questions, or a past window.

Golden-set embeddings are cached under ``<state>/monitor/reference/`` by the hash of the
questions and the model, so a report does not load the embedding model for them twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.atomic import atomic_write_bytes
from llmops.hashing import sha256_text

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.config import Settings

__all__ = ["golden_reference"]


def golden_reference(
    settings: Settings, path: str
) -> tuple[npt.NDArray[np.float32], list[str], str]:
    """Return (embeddings, questions, label) of a golden set's questions."""
    import numpy as np

    from llmops.evals.golden import load_golden_set

    file = Path(path)
    if not file.is_absolute():
        file = (settings.root / file).resolve()
    golden = load_golden_set(file)
    questions = [r.question for r in golden.records if r.question.strip()]
    model = settings.embedding.model
    key = sha256_text(json.dumps([model, questions]))[:16]
    cache = settings.state_path / "monitor" / "reference" / f"{key}.npy"
    if cache.is_file():
        vectors = np.load(cache)
    else:
        from llmops.embeddings import get_embedder

        vectors = get_embedder(model).encode(questions, batch_size=64)
        import io

        buf = io.BytesIO()
        np.save(buf, vectors.astype(np.float32))
        atomic_write_bytes(cache, buf.getvalue())
    return vectors.astype(np.float32), questions, f"golden set {file.name} ({len(questions)})"
