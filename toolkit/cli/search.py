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


@search_group.command("check")
@click.argument("query", required=False)
@click.option("--known", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="The studies the search must find: PMIDs or DOIs, one per line, or a CSV "
                   "with a pmid and/or doi column.")
@click.option("--mindate", help="Earliest publication date, as for `search pubmed`.")
@click.option("--maxdate", help="Latest publication date, as for `search pubmed`.")
@click.option("--email", envvar="NCBI_EMAIL", help="Your e-mail, sent to NCBI as they ask.")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key (10 requests/s not 3).")
@json_option
@click.pass_context
def search_check_cmd(ctx, query, known, mindate, maxdate, email, api_key, as_json):
    """Check a PubMed query before screening: its count, which known studies it retrieves and
    misses, and its recall with a 95% confidence interval (exact Clopper-Pearson). Without
    QUERY, the latest saved PubMed search's query and date limits are checked. Nothing is
    written to the store."""
    from ..search.check import check_search, describe

    if not query:
        from pathlib import Path

        from .common import db_path

        if not Path(db_path(ctx)).exists():
            from ..errors import ReviewError

            raise ReviewError("give a QUERY to check (there is no review store here with a "
                              "saved PubMed search)")
        with open_store(ctx, "search check") as review:
            rows = list(review.db.query(
                "select query, mindate, maxdate from searches where kind = 'search' and "
                "database = 'PubMed' and rerun_of is null order by id desc limit 1"))
        if not rows:
            from ..errors import ReviewError

            raise ReviewError("give a QUERY (the review has no saved PubMed search to check)")
        query = rows[0]["query"]
        mindate = mindate or rows[0]["mindate"]
        maxdate = maxdate or rows[0]["maxdate"]
    out = check_search(query, known, mindate=mindate, maxdate=maxdate, email=email,
                       api_key=api_key, on_retry=warn)
    emit(out, as_json, describe)


COMMANDS = [search_group]
