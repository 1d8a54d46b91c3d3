"""The worked example's data: breast cancer (shipped in scikit-learn) and a drifted batch.

``python -m llmops.mlmodels.example models/data`` writes both CSVs; the committed copies in
``models/data/`` are exactly this output (a test regenerates and compares them).

The drifted batch simulates a recalibrated imaging device: the 169 patients held back from the
training file, with every size feature (radius, perimeter, area) read larger and texture shifted.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["TRAIN_ROWS", "example_frames", "write_example_data"]

TRAIN_ROWS = 400
SEED = 7
SIZE_SCALE = 1.25  # radius and perimeter; area scales with its square
TEXTURE_SHIFT = 4.0


def example_frames() -> tuple[object, object]:
    """Return ``(training, drifted)`` DataFrames, deterministically."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = [str(bunch.target_names[i]) for i in frame["diagnosis"]]
    order = np.random.default_rng(SEED).permutation(len(frame))
    train = frame.iloc[order[:TRAIN_ROWS]].reset_index(drop=True)
    drifted = frame.iloc[order[TRAIN_ROWS:]].reset_index(drop=True)
    for col in drifted.columns:
        if col.endswith(("radius", "perimeter")):
            drifted[col] = drifted[col] * SIZE_SCALE
        elif col.endswith("area"):
            drifted[col] = drifted[col] * SIZE_SCALE**2
        elif col.endswith("_texture"):
            drifted[col] = drifted[col] + TEXTURE_SHIFT
    numeric = [c for c in frame.columns if c != "diagnosis"]
    train[numeric] = train[numeric].round(6)
    drifted[numeric] = drifted[numeric].round(6)
    return train, drifted


def write_example_data(folder: Path) -> list[Path]:
    """Write ``breast_cancer.csv`` and ``breast_cancer_drifted.csv`` into ``folder``."""
    train, drifted = example_frames()
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / "breast_cancer.csv", folder / "breast_cancer_drifted.csv"]
    train.to_csv(out[0], index=False)  # type: ignore[attr-defined]
    drifted.to_csv(out[1], index=False)  # type: ignore[attr-defined]
    return out


if __name__ == "__main__":  # pragma: no cover - a documented command
    for path in write_example_data(Path(sys.argv[1] if len(sys.argv) > 1 else "models/data")):
        print(path)
