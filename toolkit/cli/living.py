"""Living reviews and citation searching: `review update`, `review snowball`,
`review cumulative`."""

from __future__ import annotations

import sys

import click

from .common import OutFile, emit, json_option, note, open_store, warn
from .pooling import model_options, selection_options


def progress_lines(quiet: bool):
    """``say(message)`` for progress on stderr (only on a terminal, and never with --json)."""
    if quiet or not sys.stderr.isatty():
        return lambda message: None
    return lambda message: click.echo(f"review: {message}", err=True)


@click.command("update")
@click.option("--since", metavar="DATE",
              help="Entrez date to start from (YYYY, YYYY/MM or YYYY/MM/DD); default: the day "
                   "before each saved search last ran.")
@click.option("--email", envvar="NCBI_EMAIL", help="Your e-mail, sent to NCBI as they ask.")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key (10 requests/s not 3).")
@click.option("--batch-size", default=500, show_default=True, type=int,
              help="Records per efetch request.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Random state of the screening model that ranks the new records.")
@json_option
@click.pass_context
def update_cmd(ctx, since, email, api_key, batch_size, seed, as_json):
    """Update the review: re-run every saved PubMed search over the records PubMed added since
    it last ran, import only what is new, deduplicate it against everything stored (duplicates
    of screened records inherit their decisions) and queue the new records first for
    screening. Run it again to continue an interrupted update. Exports of databases without an
    API join the update with `review import --update FILE`."""
    from ..living.updates import describe, run_update
    from ..progress import counter

    with open_store(ctx, "update") as review, \
            counter("fetching PubMed records", quiet=as_json) as tick:
        out = run_update(review, since=since, email=email, api_key=api_key,
                         batch_size=batch_size, seed=seed, on_retry=warn,
                         progress=lambda done, total: tick(done))
    for warning in out["warnings"]:
        warn(warning)
    emit(out, as_json, describe)


@click.command("snowball")
@click.option("--backward", is_flag=True, help="The works the seeds cite (their references).")
@click.option("--forward", is_flag=True, help="The works that cite the seeds.")
@click.option("--from", "seeds", default="included", show_default=True, metavar="included|FILE",
              help="Seeds: the included studies, or a file of PMIDs, DOIs or OpenAlex ids (one "
                   "per line, or a CSV with a pmid/doi/openalex column).")
@click.option("--email", envvar="OPENALEX_EMAIL",
              help="Your e-mail, sent to OpenAlex as mailto= (its polite pool).")
@click.option("--api-key", envvar="OPENALEX_API_KEY", help="OpenAlex API key (free; raises the "
                                                           "daily allowance).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Random state of the screening model that ranks the new records.")
@json_option
@click.pass_context
def snowball_cmd(ctx, backward, forward, seeds, email, api_key, seed, as_json):
    """Citation searching through OpenAlex: the references of the seeds (--backward) and the
    works citing them (--forward); both when neither is given. The works found are saved as the
    source "Citation searching" (PRISMA: identification via other methods), deduplicated
    against the store and ranked for screening."""
    from ..search.citations import describe, snowball

    if not (backward or forward):
        backward = forward = True
    with open_store(ctx, "snowball") as review:
        out = snowball(review, backward=backward, forward=forward, seeds=seeds, email=email,
                       api_key=api_key, seed=seed, progress=progress_lines(as_json),
                       on_retry=warn)
    for warning in out["warnings"]:
        warn(warning)
    emit(out, as_json, describe)


@click.command("cumulative")
@click.argument("outcome")
@model_options
@click.option("--r", "r", type=float, help="Pre/post correlation (a mean change outcome).")
@selection_options
@click.option("--plot", type=OutFile(), metavar="FILE",
              help="Write the cumulative plot (.png, .svg or .pdf).")
@json_option
@click.pass_context
def cumulative_cmd(ctx, outcome, model, method, knha, level, r, use_unit, overlap_policy, plot,
                   as_json):
    """Cumulative meta-analysis of an extracted OUTCOME across review updates: the studies of
    the original review first, then each update's, by year within a version; each step is the
    model on the studies so far (metafor cumul)."""
    from ..living.cumulative import cumulative_by_version, describe

    options = dict(model=model, method=method, knha=knha, level=level, use_unit=use_unit,
                   overlap_policy=overlap_policy)
    if r is not None:
        options["r"] = r
    with open_store(ctx, "cumulative") as review:
        out = cumulative_by_version(review, outcome, plot=plot, **options)
    for text in out.get("notes", []):
        note(text)
    emit(out, as_json, describe)


COMMANDS = [update_cmd, snowball_cmd, cumulative_cmd]
