"""Which agencies in the directory a name may mean: possible duplicates and the intake type-ahead.

Pure apart from rapidfuzz (no Flask, no database): it compares a name with the names and aliases it is given. A
candidate is listed, with one line saying why, when any of these holds (measured on tests/agencies/test_matching.py's
corpus of real agency names, where they list every true duplicate and none of the look-alikes):

- the same name once case and spacing are set aside, or a known alias ("FBI");
- one is the initials of the other ("DEA" and "Drug Enforcement Administration");
- the whole names are alike: rapidfuzz's token_sort_ratio of at least WHOLE_NAME (85), which keeps typos and
  reordered words ("Federl Bureau of Investigaton", 96; "Los Angeles Police Dept", 88) and leaves out agencies
  that share only their generic words ("Federal Bureau of Prisons" against "… of Investigation", 70);
- their distinctive words match: token_set_ratio of at least DISTINCTIVE (90) over the words left once generic
  ones (police, department, bureau, federal, of…) are set aside, and only when some are left on both sides. This
  finds a name inside a longer one ("Drug Enforcement Agency" and "Drug Enforcement Administration", 100;
  "Metropolitan Police" and "Metropolitan Police Service") without listing every police department for "Police".
WRatio is not used: its partial matching scores any name containing "Police" at 85.5 against any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

#: Whole names at least this alike (token_sort_ratio, 0-100) are listed.
WHOLE_NAME = 85.0
#: Distinctive words at least this alike (token_set_ratio over the words that are not GENERIC) are listed.
DISTINCTIVE = 90.0
#: How short a query may be for the type-ahead (a single letter matches everything).
SHORTEST_QUERY = 2

STOP_WORDS = frozenset(
    {"of", "the", "and", "for", "on", "in", "at", "de", "del", "des", "du", "la", "le", "les", "der", "die", "das"}
    | {"und", "für", "fur", "y", "et", "di", "van", "voor", "och"}
)
#: Words many agencies share: alone they say nothing about which agency is meant.
# fmt: off
GENERIC = STOP_WORDS | frozenset({
    "police", "policia", "polizei", "politie", "polis", "gendarmerie", "department", "dept", "service",
    "services", "agency", "office", "bureau", "federal", "national", "state", "county", "city", "municipal",
    "general", "ministry", "directorate", "unit", "division", "field", "central", "regional", "royal", "us",
    "u", "s", "usa", "united", "states", "kingdom", "uk", "public", "force", "administration", "authority",
    "commission", "sheriff", "sheriffs", "prosecutor", "prosecutors", "attorney", "court", "district",
    "criminal", "investigation", "investigations", "intelligence", "security", "law", "enforcement",
})
# fmt: on


@dataclass(frozen=True)
class Entry:
    """One name an agency goes by: its canonical name or one of its aliases."""

    agency_id: int
    text: str
    is_alias: bool = False


@dataclass(frozen=True)
class Match:
    """Why an agency may be the one meant: the name or alias that matched, a score and one line for people."""

    agency_id: int
    matched: str
    is_alias: bool
    score: float
    why: str


def words(text: str) -> list[str]:
    """Lower-case words, punctuation set aside ("U.S." is "u s")."""
    return utils.default_process(text).split()


def distinctive(text: str) -> str:
    return " ".join(word for word in words(text) if word not in GENERIC)


def initials(text: str) -> str:
    """The initials of the words that are not stop words: "Federal Bureau of Investigation" -> "fbi"."""
    return "".join(word[0] for word in words(text) if word not in STOP_WORDS)


def _is_acronym(short: str, long: str) -> bool:
    short_words = words(short)
    squeezed = "".join(short_words)
    # One word ("FBI"), or single letters ("F.B.I."); never a phrase that happens to spell the initials.
    spelled = len(short_words) == 1 or all(len(word) == 1 for word in short_words)
    return spelled and 2 <= len(squeezed) <= 8 and squeezed.isalpha() and squeezed == initials(long)


def _named(entry: Entry) -> str:
    return f"alias “{entry.text}”" if entry.is_alias else f"“{entry.text}”"


def _explain(query: str, entry: Entry) -> tuple[float, str] | None:
    """The score and the reason `query` may mean the agency behind `entry`, or None."""
    q_words, e_words = words(query), words(entry.text)
    if not q_words or not e_words:
        return None
    if q_words == e_words:
        return 100.0, f"Same name as {_named(entry)}" if not entry.is_alias else f"Known by the {_named(entry)}"
    if _is_acronym(query, entry.text):
        return 95.0, f"“{query.strip()}” are the initials of {_named(entry)}"
    if _is_acronym(entry.text, query):
        return 95.0, f"Its {_named(entry)} is the initials of this name"
    whole = fuzz.token_sort_ratio(" ".join(q_words), " ".join(e_words))
    if whole >= WHOLE_NAME:
        return whole, f"Name {whole:.0f}% alike {_named(entry)}"
    q_distinct, e_distinct = distinctive(query), distinctive(entry.text)
    if q_distinct and e_distinct:
        shared = fuzz.token_set_ratio(q_distinct, e_distinct)
        if shared >= DISTINCTIVE:
            common = [word for word in q_distinct.split() if word in e_distinct.split()] or q_distinct.split()
            return min(shared, 90.0), f"Shares the words “{' '.join(common)}” with {_named(entry)}"
    return None


def close_matches(query: str, entries: Iterable[Entry], *, exclude: Iterable[int] = (), limit: int = 10) -> list[Match]:
    """The agencies `query` may mean, best first, one Match per agency (its best-scoring name or alias)."""
    skip = set(exclude)
    candidates = [entry for entry in entries if entry.agency_id not in skip]
    if not words(query) or not candidates:
        return []
    # A first pass at C speed keeps the Python explanations to the few names that can pass.
    scorer_cut = min(WHOLE_NAME, DISTINCTIVE) * 0.6
    texts = [" ".join(words(entry.text)) for entry in candidates]
    rough = process.extract(
        " ".join(words(query)), texts, scorer=fuzz.token_set_ratio, score_cutoff=scorer_cut, limit=None
    )
    plausible = {index for _, _, index in rough}
    # Acronyms score low on any ratio: check them apart (cheap: a string comparison each).
    plausible |= {
        index
        for index, entry in enumerate(candidates)
        if _is_acronym(query, entry.text) or _is_acronym(entry.text, query)
    }
    best: dict[int, Match] = {}
    for index in plausible:
        entry = candidates[index]
        explained = _explain(query, entry)
        if explained is None:
            continue
        score, why = explained
        current = best.get(entry.agency_id)
        if current is None or score > current.score:
            best[entry.agency_id] = Match(entry.agency_id, entry.text, entry.is_alias, score, why)
    return sorted(best.values(), key=lambda m: (-m.score, m.matched.casefold()))[:limit]


def type_ahead(query: str, entries: Sequence[Entry], *, limit: int = 10) -> list[Match]:
    """What the intake type-ahead offers for what has been typed so far: names and aliases starting with it (or
    with a word starting with it) first, then close matches."""
    typed = " ".join(words(query))
    if len(typed) < SHORTEST_QUERY:
        return []
    found: dict[int, Match] = {}
    for entry in entries:
        text = " ".join(words(entry.text))
        if text == typed:
            score, why = 100.0, f"Known by the {_named(entry)}" if entry.is_alias else f"Same name as {_named(entry)}"
        elif text.startswith(typed):
            score, why = 99.0, f"Starts with what you typed ({_named(entry)})"
        elif any(word.startswith(typed) for word in text.split()) and len(typed) >= 3:
            score, why = 97.0, f"A word of {_named(entry)} starts with what you typed"
        else:
            continue
        current = found.get(entry.agency_id)
        if current is None or score > current.score:
            found[entry.agency_id] = Match(entry.agency_id, entry.text, entry.is_alias, score, why)
    for match in close_matches(query, entries, exclude=found, limit=limit):
        found[match.agency_id] = match
    return sorted(found.values(), key=lambda m: (-m.score, m.matched.casefold()))[:limit]
