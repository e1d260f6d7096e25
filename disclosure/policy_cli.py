"""`flask policy check REQUEST.json`: evaluate a request document against the default policy;
`flask policy vocabulary`: every id a request document accepts, grouped by field, with its label.

`check` prints the evaluation as JSON (indent 2, sorted keys) and exits 0; a list of documents gives a list of
evaluations. An unreadable file, input that `json_input` refuses (over 1 MiB, not UTF-8, nested over 32 deep,
not strict JSON) or a malformed request exits 2 with `error: …` on stderr naming the bad field or position;
no input ends in a traceback. Neither command needs an application context: the engine is pure.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NoReturn

import click
from flask.cli import AppGroup

from disclosure.clock import utcnow
from disclosure.policy.engine import evaluate
from disclosure.policy.json_input import JsonInputError, read_json_document
from disclosure.policy.loader import default_policy
from disclosure.policy.request import RequestError, parse_requests
from disclosure.policy.request_fields import COUNTRY_ALIASES
from disclosure.policy.vocabulary import REQUEST_VOCABULARY

__all__ = ["policy_cli"]

policy_cli = AppGroup("policy", help="The disclosure policy and its rules engine.")

_USAGE_ERROR = 2


def _fail(message: str) -> NoReturn:
    # A message can quote the document (a key is a field's name): a newline or a terminal escape from it
    # must not break the one error line or reach the terminal, so unprintable characters are escaped.
    shown = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in message)
    click.echo(f"error: {shown}", err=True)
    raise SystemExit(_USAGE_ERROR)


@policy_cli.command("check", with_appcontext=False)
@click.argument("request_file", metavar="REQUEST.json", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Evaluate as of this date (YYYY-MM-DD) instead of today, e.g. to reproduce an evaluation.",
)
def check(request_file: str, today: datetime | None) -> None:
    """Evaluate REQUEST.json (one request document, or a list of them) and print the evaluation as JSON."""
    try:
        with click.open_file(request_file, "rb") as stream:
            obj = read_json_document(stream, source=request_file)
    except OSError as exc:
        _fail(f"cannot read {request_file}: {exc.strerror or exc}")
    except JsonInputError as exc:
        _fail(str(exc))
    try:
        documents = parse_requests(obj)
    except RequestError as exc:
        _fail(f"{exc.field}: {exc.message}")
    as_of = today.date() if today is not None else utcnow().date()
    policy = default_policy()
    results = [evaluate(doc, policy, as_of).as_json() for doc in documents]
    output = results if isinstance(obj, list) else results[0]
    click.echo(json.dumps(output, indent=2, sort_keys=True, ensure_ascii=False))


_COUNTRY_FIELD = "jurisdiction.country"
_COUNTRY_ABOUT = (
    "the issuing country (and agency.country): an ISO 3166 alpha-2 code in capitals, e.g. US, DE, GB; "
    + ", ".join(f"{alias} is read as {code}" for alias, code in COUNTRY_ALIASES.items())
)


@policy_cli.command("vocabulary", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON: {field: {about, ids: {id: label}}}.")
def vocabulary(as_json: bool) -> None:
    """Print every id a request document accepts, grouped by the field that takes it, with its label."""
    if as_json:
        out: dict[str, object] = {
            field: {"about": about, "ids": {m.value: m.label for m in enum}}
            for field, about, enum in REQUEST_VOCABULARY
        }
        out[_COUNTRY_FIELD] = {"about": _COUNTRY_ABOUT, "aliases": dict(COUNTRY_ALIASES)}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    blocks = []
    for field, about, enum in REQUEST_VOCABULARY:
        width = max(len(m.value) for m in enum)
        rows = "\n".join(f"  {m.value:<{width}}  {m.label}" for m in enum)
        blocks.append(f"{field}\n  ({about})\n{rows}")
    blocks.append(f"{_COUNTRY_FIELD}\n  ({_COUNTRY_ABOUT})")
    click.echo("\n\n".join(blocks))
