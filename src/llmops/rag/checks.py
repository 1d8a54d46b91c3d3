"""Checks a build passes before its index may be served.

A glob typo in a pipeline's ``include`` (``**/*.mdx``) selects nothing; a build of nothing that
switched the alias would stop serving the good index. So a build that would leave the served
index empty, or smaller by more than ``store.max_shrink`` of its chunks, is refused before
anything is written, naming the pipeline file, the ``include`` key and the globs that matched
nothing, unless the caller allows it (``llmops index run --allow-shrink``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.errors import CheckFailedError

if TYPE_CHECKING:
    from llmops.rag.pipeline import Pipeline

__all__ = ["check_shrink"]


def check_shrink(
    pipeline: Pipeline, served_chunks: int | None, new_chunks: int, skipped: dict[str, int]
) -> None:
    """Raise CheckFailedError when a build of ``new_chunks`` may not replace the served index.

    ``served_chunks`` is None when nothing is served yet (then only an empty build is refused).
    """
    limit = pipeline.spec.store.max_shrink
    if new_chunks > 0 and not served_chunks:
        return
    if new_chunks > 0 and served_chunks:
        share = (served_chunks - new_chunks) / served_chunks
        if share <= limit:
            return
        what = (
            f"the build of '{pipeline.name}' would shrink the served index from {served_chunks} "
            f"to {new_chunks} chunks (-{share:.0%}, more than store.max_shrink {limit:.0%})"
        )
    elif served_chunks:
        what = (
            f"the build of '{pipeline.name}' found no chunks: it would replace the served index "
            f"of {served_chunks} chunks with an empty one"
        )
    else:
        what = f"the build of '{pipeline.name}' found no chunks to index"
    reasons, line, key = _why(pipeline, skipped)
    served = "the served index is unchanged" if served_chunks else "nothing was built"
    allow = f"llmops index run {pipeline.name} --allow-shrink"
    raise CheckFailedError(
        f"{what}; {served}" + (f"; {reasons}" if reasons else ""),
        file=pipeline.path,
        line=line,
        key=key,
        hint=(
            f"fix the include globs in {pipeline.path or 'the pipeline file'}"
            if key and key.endswith(".include")
            else "check the sources"
        )
        + f"; if the documents were removed on purpose: {allow}",
    )


def _why(pipeline: Pipeline, skipped: dict[str, int]) -> tuple[str, int | None, str | None]:
    """Return (what the sources selected, line, key) naming the first source that found nothing."""
    from llmops.rag.documents import unmatched_globs

    parts: list[str] = []
    first: int | None = None
    for i, source in enumerate(pipeline.spec.sources):
        if source.type != "directory":
            continue
        root = pipeline.source_root(source)
        missing = unmatched_globs(root, source)
        if missing:
            parts.append(f"sources.{i}.include under {root}: " + ", ".join(missing))
            first = i if first is None else first
    if skipped:
        parts.append(
            "skipped files: " + ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        )
    line = None
    key = f"sources.{first}.include" if first is not None else "store.max_shrink"
    if pipeline.path is not None:
        from llmops.errors import LLMOpsError
        from llmops.files import load_yaml

        try:
            doc = load_yaml(pipeline.path)
            loc: list[str | int] = (
                ["sources", first, "include"] if first is not None else ["store", "max_shrink"]
            )
            line = doc.line_of(loc)
        except LLMOpsError:
            line = None
    return "; ".join(parts), line, key
