"""`review search`: bibliographic database searches through their APIs."""

from __future__ import annotations

import click

from .common import emit, json_option, open_store, warn


@click.group("search")
def search_group():
    """Search bibliographic databases."""


@search_group.command("pubmed")
@click.argument("query", required=False)
@click.option("--mindate", help="Earliest publication date (YYYY, YYYY/MM or YYYY/MM/DD).")
@click.option("--maxdate", help="Latest publication date (YYYY or YYYY/MM: to the end of that "
                                 "year or month, as PubMed reads it).")
@click.option("--email", envvar="NCBI_EMAIL", help="Your e-mail, sent to NCBI as they ask.")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key (10 requests/s not 3).")
@click.option("--batch-size", default=500, show_default=True, type=int,
              help="Records per efetch request.")
@click.option("--resume", is_flag=True, help="Continue the latest unfinished search.")
@json_option
@click.pass_context
def search_pubmed_cmd(ctx, query, mindate, maxdate, email, api_key, batch_size, resume,
                      as_json):
    """Search PubMed (E-utilities, history server) and save every record found."""
    from ..progress import counter
    from ..search.pubmed import search_pubmed

    with open_store(ctx, "search pubmed") as review, \
            counter("fetching PubMed records", quiet=as_json) as tick:
        out = search_pubmed(review, query, mindate=mindate, maxdate=maxdate,
                            batch_size=batch_size, email=email, api_key=api_key, resume=resume,
                            progress=lambda done, total: tick(done), on_retry=warn)
    # whenever retrieved != Count (or the date parts did not add up): the search is incomplete
    for warning in out["warnings"]:
        warn(warning)
    emit(out, as_json, lambda d: (
        f"PubMed: {d['query']}\n  count {d['count']}, retrieved {d['retrieved']}, "
        f"added {d['added']}, already present {d['already_present']} "
        f"({d['requests']} requests, {d['parts']} date part(s))"))


COMMANDS = [search_group]
