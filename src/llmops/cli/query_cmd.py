"""`llmops query`: Retrieve ranked chunks from a served RAG index."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli._common import JsonOpt, PipelineArg, console, print_json, state


def query(
    ctx: typer.Context,
    pipeline: PipelineArg,
    question: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, max=100, help="Chunks to return.")] = 5,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="key=value on metadata or source/title (repeatable)."),
    ] = None,
    mmr: Annotated[
        bool, typer.Option("--mmr", help="Diversify with maximal marginal relevance.")
    ] = False,
    hybrid: Annotated[
        bool, typer.Option("--hybrid", help="Dense + BM25 sparse, fused by RRF.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Retrieve ranked chunks from a served RAG index.

    Examples:

        llmops query python-docs "what does nonlocal do?" -k 3

        llmops query docs "how do I deploy?" --hybrid --filter team=ops --json
    """
    from llmops.gateway.admin_client import retriever_for
    from llmops.rag.retriever import parse_filters

    # Through the running gateway's admin API when one owns the embedded store.
    retriever = retriever_for(pipeline, state(ctx).settings())
    filters = parse_filters(filter_ or [])
    result = retriever.retrieve(question, k=k, filters=filters, hybrid=hybrid, mmr=mmr)
    if not result.chunks and filters and hasattr(retriever, "check_filters"):
        retriever.check_filters(filters)  # an unknown key matches nothing: say so, exit 2
    if json_:
        print_json(
            {
                "query": result.query,
                "mode": result.mode,
                "index_version": result.lineage.index_version,
                "lineage": result.lineage.model_dump(mode="json"),
                "chunks": [c.model_dump(mode="json") for c in result.chunks],
            }
        )
        return
    out = console()
    out.print(
        f"{result.lineage.pipeline} @ {result.lineage.index_version} ({result.mode}, k={k})",
        markup=False,
    )
    if not result.chunks:
        out.print("no chunks matched", markup=False)
    for rank, chunk in enumerate(result.chunks, start=1):
        heading = " > ".join(chunk.heading_path) or chunk.title
        out.print(f"\n#{rank}  {chunk.score:.4f}  {chunk.source}  [{heading}]", markup=False)
        out.print(chunk.text.strip(), markup=False)
