"""The `review` command: a thin click skin over the Python API.

Conventions for every command:
- ``--json`` prints exactly one JSON object on stdout; human text otherwise.
- Progress bars (rich) go to stderr.
- Errors print one line ``review: error: ...`` and exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import os
import sys

import click

from . import __version__
from .errors import ReviewError
from .store import DEFAULT_DB, create_review, open_review

JSON_HELP = "Print one JSON object on stdout instead of human text."


def emit(data: dict, as_json: bool, human=None) -> None:
    """Print ``data`` as one JSON object, or as human text (``human(data)`` or key: value lines)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, sort_keys=False, default=str))
        return
    if human is not None:
        text = human(data)
        if text:
            click.echo(text)
        return
    for k, v in data.items():
        click.echo(f"{k}: {v}")


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(f)


def get_review(ctx: click.Context, command: str):
    """Open the store named by --db / REVIEW_DB for ``command``."""
    return open_review(ctx.obj["db"], command=command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", envvar="REVIEW_DB", default=DEFAULT_DB, show_default=True,
              type=click.Path(dir_okay=False), help="The review's SQLite file (env REVIEW_DB).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="review")
@click.pass_context
def cli(ctx: click.Context, db_path: str, debug: bool):
    """review: a systematic review from search to pooled result, in one SQLite file."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db_path
    ctx.obj["debug"] = debug


def main(argv=None) -> None:
    """Console-script entry point: runs the group and turns errors into one line + exit 1."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="review", standalone_mode=False)
    except ReviewError as exc:
        if debug:
            raise
        click.echo(f"review: error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("review: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if debug:
            raise
        click.echo(f"review: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else 1)
    except KeyboardInterrupt:
        click.echo("review: interrupted; everything saved so far is kept", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an unexpected environment problem
        if debug:
            raise
        click.echo(f"review: error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                   err=True)
        sys.exit(1)
    if isinstance(rv, int) and rv:
        sys.exit(rv)


# ============================================================================================
# Foundation: init, import, search, status, export (issue 3)
# ============================================================================================

@cli.command("init")
@click.option("--title", help="The review's title.")
@json_option
@click.pass_context
def init_cmd(ctx, title, as_json):
    """Create a new review store (default ./review.db)."""
    review = create_review(ctx.obj["db"], title=title)
    out = {"db": str(review.path), "title": title, "schema_version": review.schema_version}
    review.close()
    emit(out, as_json, lambda d: f"created {d['db']} (schema version {d['schema_version']})")


# --- end of foundation commands ---------------------------------------------------------------


# ============================================================================================
# Deduplication (issue 4): `review dedup`
# ============================================================================================

# --- end of deduplication commands ------------------------------------------------------------


# ============================================================================================
# Screening (issue 5): `review screen`, `review conflicts`, `review simulate`
# ============================================================================================

# review simulate
@cli.command("simulate")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the priors and the model.")
@click.option("--prior-included", type=int, default=1, show_default=True,
              help="Includes drawn at random as prior knowledge.")
@click.option("--prior-excluded", type=int, default=1, show_default=True,
              help="Excludes drawn at random as prior knowledge.")
@click.option("--classifier", type=click.Choice(["svm", "logistic", "nb"]), default="svm",
              show_default=True, help="The model's classifier.")
@click.option("--query", type=click.Choice(["max", "uncertainty", "mixed"]), default="max",
              show_default=True, help="Query strategy.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the screening order as CSV.")
@json_option
def simulate_cmd(data, seed, prior_included, prior_excluded, classifier, query, out_path,
                 as_json):
    """Simulate screening of a labelled CSV (title, abstract, label_included) and report
    work saved (WSS@95) and recall."""
    import time

    from .screening.simulate import read_labelled_csv, simulate, write_ranking

    t0 = time.perf_counter()
    ds = read_labelled_csv(data)
    try:
        res = simulate(ds.texts, ds.labels, seed=seed, prior_included=prior_included,
                       prior_excluded=prior_excluded, classifier=classifier, query=query)
    except ReviewError as exc:  # e.g. more priors asked for than the file has: name the file
        if exc.file:
            raise
        raise ReviewError(exc.bare_message, file=data) from None
    if out_path:
        write_ranking(res, out_path, ds.record_ids)
    m = res.metrics
    out = {
        "data": str(data), "seed": seed, "model": res.model_version,
        "n_records": int(len(ds.labels)), "n_included": int(ds.labels.sum()),
        "n_priors": len(res.prior_rows), "N": m["N"], "R": m["R"],
        "n95": m["n95"], "n100": m["n100"], "wss95": m["wss95"],
        "recall_at_10pct": m["recall_at_10pct"], "n_fits": res.n_fits,
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    if out_path:
        out["out"] = str(out_path)

    def human(d):
        f = (lambda v: "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else v))
        return (f"{d['data']}: {d['n_records']} records, {d['n_included']} included "
                f"({d['n_priors']} priors, seed {d['seed']}, {d['model']})\n"
                f"WSS@95 {f(d['wss95'])}  recall@10% {f(d['recall_at_10pct'])}  "
                f"n95 {f(d['n95'])}  n100 {f(d['n100'])}  wall {d['wall_s']:.1f} s")
    emit(out, as_json, human)


# --- end of screening commands ----------------------------------------------------------------


# ============================================================================================
# Full text and extraction (issue 6): `review fulltext`, `review link`, `review extract`
# ============================================================================================

# --- end of full-text and extraction commands -------------------------------------------------


# ============================================================================================
# Pooling (issue 7): `review pool`
# ============================================================================================

# --- end of pooling commands ------------------------------------------------------------------


# ============================================================================================
# PRISMA and the worked example (issue 8): `review prisma`, `review reproduce`
# ============================================================================================

# --- end of PRISMA and reproduce commands -----------------------------------------------------


if __name__ == "__main__":  # python -m toolkit.cli
    main()
