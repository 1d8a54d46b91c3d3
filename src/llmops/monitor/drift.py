"""Query drift: is this window's traffic about the same things as the reference?

The test is a kernel two-sample test (MMD) with a permutation null, so its p-value is exact at
every window size: under no drift it rejects at level alpha alpha of the time, whatever the
sample size, the embedding model or the dimension (the A/A self-test in tests/monitor checks
this over 100 seeds at each supported size). The Gaussian kernel (bandwidth: the median pairwise
distance of the pooled sample) is approximated by 256 random Fourier features, which makes the
statistic a squared distance between two mean feature vectors; permutations are then one matrix
product per batch. Permutations stop early (Besag-Clifford) once eight null statistics exceed
the observed one: the p-value is then clearly above any alarm level.

A verdict needs both a rejection (``p < alpha``) and enough data (``min_window`` per side);
below that the result says "too few queries" instead. The effect size is reported with the
p-value and both sample sizes: the MMD itself and how many null standard deviations it is.
``topics`` says what moved: clusters of the pooled queries (spherical k-means, about 15 queries
per cluster) whose share grew or shrank, by Fisher's exact test with a Bonferroni correction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from llmops.monitor.settings import DriftSettings

__all__ = ["DriftResult", "TopicShift", "mmd_test", "one_blas_thread", "query_drift"]

Status = Literal["drift", "no_drift", "too_few", "no_data", "no_reference"]
_FEATURES = 256
_STOP_AFTER = 8


@dataclass
class TopicShift:
    """A cluster of queries whose share moved between reference and window."""

    example: str
    nearest_reference: str | None
    ref_share: float
    cur_share: float
    p_value: float
    n_cur: int


@dataclass
class DriftResult:
    """A drift test's verdict with its evidence."""

    status: Status
    message: str
    p_value: float | None = None
    statistic: float | None = None  # MMD (square root of the squared MMD estimate)
    z: float | None = None  # the statistic in null standard deviations
    n_ref: int = 0
    n_cur: int = 0
    permutations: int = 0
    alpha: float = 0.01
    topics: list[TopicShift] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Return True when the test rejected with enough data."""
        return self.status == "drift"

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        from dataclasses import asdict

        out = asdict(self)
        for key in ("p_value", "statistic", "z"):
            if out[key] is not None:
                out[key] = round(out[key], 6)
        return out


def one_blas_thread() -> Any:
    """Return a context running BLAS on one thread.

    Measured on the 2-core CI machine under load: a 50-vs-50 test took 19 ms on one thread and
    124 ms on two (OpenBLAS threads spin against other processes); 2,000 vs 2,000 took
    0.24-0.45 s against 0.40-0.82 s.
    """
    return _controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _controller() -> Any:
    """Return the process's thread-pool controller (inspecting the loaded libraries once)."""
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


@functools.lru_cache(maxsize=8)
def _frequencies(dim: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Return unit-bandwidth random Fourier frequencies and phases (scaled per test)."""
    import numpy as np

    rng = np.random.default_rng(seed + 7919)
    w0 = rng.normal(0.0, 1.0, size=(dim, _FEATURES)).astype(np.float32)
    b = rng.uniform(0, 2 * np.pi, size=_FEATURES).astype(np.float32)
    w0.setflags(write=False)
    b.setflags(write=False)
    return w0, b


def _features(pooled: npt.NDArray[np.float32], seed: int) -> tuple[npt.NDArray[np.float32], float]:
    import numpy as np

    rng = np.random.default_rng(seed)
    take = pooled[rng.choice(len(pooled), size=min(len(pooled), 400), replace=False)]
    sq = np.sum(take * take, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * take @ take.T, 0.0)
    upper = d2[np.triu_indices(len(take), k=1)]
    sigma = float(np.sqrt(np.median(upper))) if upper.size and np.median(upper) > 0 else 1.0
    w0, b = _frequencies(pooled.shape[1], seed)
    z = np.cos(pooled @ (w0 / np.float32(sigma)) + b) * np.float32(np.sqrt(2.0 / _FEATURES))
    return z.astype(np.float32), sigma


def mmd_test(
    ref: npt.NDArray[np.float32],
    cur: npt.NDArray[np.float32],
    *,
    permutations: int = 500,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """Return (MMD, p-value, z, permutations run) for two samples of embeddings."""
    with one_blas_thread():
        return _mmd_test(ref, cur, permutations, seed)


def _mmd_test(
    ref: npt.NDArray[np.float32], cur: npt.NDArray[np.float32], permutations: int, seed: int
) -> tuple[float, float, float, int]:
    import numpy as np

    n, m = len(ref), len(cur)
    pooled = np.concatenate([ref, cur]).astype(np.float32)
    z, _ = _features(pooled, seed)
    sign = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)]).astype(np.float32)
    observed = float(np.sum((z.T @ sign) ** 2))
    rng = np.random.default_rng(seed + 1)
    null: list[float] = []
    exceed, done, batch = 0, 0, 20
    while done < permutations:
        size = min(batch, permutations - done)
        signs = rng.permuted(np.tile(sign, (size, 1)), axis=1).T
        stats = np.sum((z.T @ signs) ** 2, axis=0)
        null.extend(float(s) for s in stats)
        exceed += int(np.sum(stats >= observed))
        done += size
        if exceed >= _STOP_AFTER:
            break
    p = (1 + exceed) / (1 + done)
    spread = float(np.std(null)) or 1e-12
    zscore = (observed - float(np.mean(null))) / spread
    return float(np.sqrt(max(observed, 0.0))), p, zscore, done


def _kmeans(x: npt.NDArray[np.float32], k: int, seed: int) -> npt.NDArray[np.int64]:
    """Return cluster labels: spherical k-means, best of four k-means++ starts (cosine)."""
    import numpy as np

    best: tuple[float, npt.NDArray[np.int64]] | None = None
    for start in range(4):
        rng = np.random.default_rng(seed + start)
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = np.min(np.stack([1 - x @ c for c in centres]), axis=0).clip(min=0)
            total = float(d.sum())
            pick = int(rng.choice(len(x), p=d / total)) if total > 0 else int(rng.integers(len(x)))
            centres.append(x[pick])
        c = np.stack(centres)
        labels = np.zeros(len(x), dtype=np.int64)
        for _ in range(25):
            labels = np.argmax(x @ c.T, axis=1)
            for j in range(k):
                members = x[labels == j]
                if len(members):
                    mean = members.mean(axis=0)
                    c[j] = mean / (np.linalg.norm(mean) or 1.0)
        fit = float(np.sum(np.max(x @ c.T, axis=1)))
        if best is None or fit > best[0]:
            best = (fit, labels)
    assert best is not None
    return best[1]


def _topics(
    ref: npt.NDArray[np.float32],
    cur: npt.NDArray[np.float32],
    texts: tuple[list[str], list[str]],
    alpha: float,
    min_change: float,
) -> list[TopicShift]:
    import numpy as np
    from scipy.stats import fisher_exact

    ref_texts, cur_texts = texts
    pooled = np.concatenate([ref, cur])
    k = int(max(2, min(12, len(pooled) // 15)))
    labels = _kmeans(pooled, k, seed=0)
    ref_l, cur_l = labels[: len(ref)], labels[len(ref) :]
    shifts: list[TopicShift] = []
    for j in range(k):
        r_in, c_in = int(np.sum(ref_l == j)), int(np.sum(cur_l == j))
        r_share, c_share = r_in / len(ref), c_in / len(cur)
        if abs(c_share - r_share) < min_change:
            continue
        table = [[r_in, len(ref) - r_in], [c_in, len(cur) - c_in]]
        p_value = float(fisher_exact(table).pvalue)  # exact; Bonferroni over the clusters
        if p_value >= alpha / k:
            continue
        members = np.flatnonzero(labels == j)
        centre = pooled[members].mean(axis=0)
        cur_members = [i for i in members if i >= len(ref)]
        ref_members = [i for i in members if i < len(ref)]
        pick = max(cur_members or members, key=lambda i: float(pooled[i] @ centre))
        example = cur_texts[pick - len(ref)] if pick >= len(ref) else ref_texts[pick]
        near_ref = int(
            max(ref_members, key=lambda i: float(pooled[i] @ centre))
            if ref_members
            else np.argmax(ref @ centre)
        )
        shifts.append(
            TopicShift(
                example=example,
                nearest_reference=ref_texts[near_ref] if ref_texts else None,
                ref_share=round(r_share, 4),
                cur_share=round(c_share, 4),
                p_value=float(f"{p_value:.3g}"),
                n_cur=c_in,
            )
        )
    return sorted(shifts, key=lambda s: s.ref_share - s.cur_share)


def query_drift(
    ref: npt.NDArray[np.float32] | None,
    cur: npt.NDArray[np.float32],
    *,
    texts: tuple[list[str], list[str]] | None = None,
    settings: DriftSettings | None = None,
) -> DriftResult:
    """Test ``cur`` against ``ref``; say plainly when there is too little to decide.

    ``texts`` (reference texts, current texts) lets a drifted result name the topics that
    moved; ``settings`` gives alpha, the minimum window, permutations and the smallest change.
    """
    from llmops.monitor.settings import DriftSettings

    cfg = settings or DriftSettings()
    alpha, min_window = cfg.alpha, cfg.min_window
    n_cur = 0 if cur is None else len(cur)
    if ref is None:
        return DriftResult(
            "no_reference", "no reference queries: set monitor.drift.golden_sets or wait for a "
            "reference window", n_cur=n_cur, alpha=alpha,
        )  # fmt: skip
    sizes: dict[str, Any] = {"n_ref": len(ref), "n_cur": n_cur, "alpha": alpha}
    if n_cur == 0:
        return DriftResult("no_data", "no queries in the window: no data (not zero drift)", **sizes)
    if min(len(ref), n_cur) < min_window:
        which = "reference set" if len(ref) < min_window else "window"
        return DriftResult(
            "too_few", f"too few queries for the test: the {which} has {min(len(ref), n_cur)}, "
            f"the test needs at least {min_window} on each side", **sizes,
        )  # fmt: skip
    stat, p, z, runs = mmd_test(ref, cur, permutations=cfg.permutations)
    drifted = p < alpha
    message = (
        f"queries drifted: MMD {stat:.3f} ({z:.1f} null sd), p = {p:.4f} < {alpha}"
        if drifted
        else f"no drift detected: MMD {stat:.3f}, p = {p:.3f} (alpha {alpha})"
    )
    result = DriftResult(
        "drift" if drifted else "no_drift", message, p_value=p, statistic=stat, z=z,
        permutations=runs, **sizes,
    )  # fmt: skip
    if drifted and texts is not None:
        with one_blas_thread():
            result.topics = _topics(ref, cur, texts, alpha, cfg.min_rate_change)
    return result
