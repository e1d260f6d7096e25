"""The PDF check, run in a child process: hostile PDFs are parsed here so that a bomb or a parser bug costs this
process, never the server.

`python -m disclosure.cases.pdf_check` reads one PDF on standard input, limits its own address space and CPU time
before it parses anything, and prints one JSON verdict on standard output: {"ok": true} or {"ok": false,
"reason": "<a sentence for the uploader>"}. The check works on pypdf's parsed objects (names decoded, so /L#61unch
is /Launch), visits every object in the cross-reference table and every object reachable from the trailer, and
holds three budgets while it works: objects, pages, and bytes inflated (counted while inflating, stream by stream,
never all at once). disclosure.cases.documents runs it with a wall-clock limit and treats any other outcome as a
refusal.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Address space for the child. pypdf and Python need about 100 MB; the rest is room for the inflation budget.
ADDRESS_SPACE_LIMIT = 1024 * 1024 * 1024
#: CPU seconds for the child: a backstop behind the parent's wall-clock limit.
CPU_SECONDS_LIMIT = 60
#: Total bytes the check may inflate: this many times the file's size, and never more than MAX_INFLATED_BYTES.
INFLATION_RATIO = 50
MAX_INFLATED_BYTES = 200 * 1024 * 1024
#: Indirect objects (a 500-page scanned warrant has a few thousand).
MAX_OBJECTS = 100_000
#: Pages, counted as the page tree references them (a page referenced twice counts twice).
MAX_PAGES = 10_000
#: Bytes handed to zlib, and asked back from it, per step while inflating.
CHUNK = 64 * 1024

#: Action types (the /S of an action dictionary) that run programs, open or send files, run scripts or play media.
DANGEROUS_ACTIONS = {
    "launch": "an action that starts a program (Launch)",
    "gotor": "a link that opens another file (GoToR), which can leak network passwords",
    "gotoe": "a link into an embedded file (GoToE)",
    "importdata": "an action that imports data (ImportData)",
    "submitform": "an action that sends form data elsewhere (SubmitForm)",
    "javascript": "JavaScript",
    "rendition": "embedded media (Rendition)",
    "richmedia": "embedded media (RichMedia)",
    "richmediaexecute": "embedded media (RichMediaExecute)",
    "sound": "embedded sound (Sound)",
    "movie": "embedded video (Movie)",
}
#: Annotation types that carry a file or media player.
DANGEROUS_ANNOTATIONS = {
    "fileattachment": "an attached file",
    "sound": "embedded sound (Sound)",
    "movie": "embedded video (Movie)",
    "screen": "embedded media (Screen)",
    "richmedia": "embedded media (RichMedia)",
}
EMBEDDED_FILE = "an embedded file"
XFA = "an XFA form"
BAD_URI = "a link to an address that is not a web page (only http and https links are accepted)"
AUTOMATIC_ACTION = "an action that runs by itself when the document or a page opens"
#: The only action a reader may run by itself (on opening the document or a page): going to a page of this PDF.
HARMLESS_AUTOMATIC_ACTIONS = {"goto"}

ACTIVE = "This PDF contains active content ({found}), which we do not accept. Print it to a new PDF and upload that."
TOO_COMPLEX = (
    "This PDF is too complex to check safely ({why}). Print it to a new PDF, or split it into smaller files, "
    "and upload that."
)
ENCRYPTED = (
    "This PDF is encrypted or password-protected. Ask the sender for an unprotected copy, or print it to a new PDF."
)
DAMAGED = "This PDF is damaged or incomplete and cannot be read. Ask the sender for a new copy."
NO_PAGES = "This PDF has no pages. Ask the sender for the complete document."


class Refused(Exception):
    """The PDF is refused; the message is the sentence shown to the uploader."""


class OverBudget(Refused):
    """The PDF asks for more work than its budget allows."""

    def __init__(self, why: str) -> None:
        super().__init__(TOO_COMPLEX.format(why=why))


@dataclass
class Budget:
    """What is left of the check's allowance for this document."""

    inflated: int
    objects: int = MAX_OBJECTS
    pages: int = MAX_PAGES

    @classmethod
    def for_size(cls, size: int) -> Budget:
        return cls(inflated=min(INFLATION_RATIO * size, MAX_INFLATED_BYTES))

    def inflate(self, count: int) -> None:
        self.inflated -= count
        if self.inflated < 0:
            raise OverBudget("its compressed content expands to far more than the file's size")

    def visit_object(self) -> None:
        self.objects -= 1
        if self.objects < 0:
            raise OverBudget(f"more than {MAX_OBJECTS:,} objects")

    def visit_page(self) -> None:
        self.pages -= 1
        if self.pages < 0:
            raise OverBudget(f"more than {MAX_PAGES:,} pages")


@dataclass
class Findings:
    """Active content found so far, as phrases for the uploader, in the order found."""

    phrases: list[str] = field(default_factory=list)

    def add(self, phrase: str) -> None:
        if phrase not in self.phrases:
            self.phrases.append(phrase)


def check(data: bytes) -> None:
    """Raise Refused with the reason when the PDF is not one we accept; return when it is."""
    from pypdf import PdfReader, overwrite_configuration
    from pypdf.errors import LimitReachedError, PdfReadError

    budget = Budget.for_size(len(data))
    # pypdf's own per-stream limits, lowered to this document's budget; no external decoder is ever run.
    overwrite_configuration(
        zlib_maximum_output_length=budget.inflated,
        lzw_maximum_output_length=budget.inflated,
        run_length_maximum_output_length=budget.inflated,
        array_based_stream_maximum_output_length=budget.inflated,
        jbig2_maximum_output_length=budget.inflated,
        brotli_maximum_output_length=budget.inflated,
        jbig2dec_binary=None,
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Refused(ENCRYPTED)
        findings = Findings()
        _walk(reader, budget, findings)
    except Refused:
        raise
    except LimitReachedError as error:
        raise OverBudget("it exceeds a limit of the PDF reader") from error
    except RecursionError as error:
        raise OverBudget("its objects are nested too deeply") from error
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, zlib.error) as error:
        raise Refused(DAMAGED) from error
    if findings.phrases:
        raise Refused(ACTIVE.format(found="; ".join(findings.phrases)))


def _walk(reader: Any, budget: Budget, findings: Findings) -> None:
    """Count the pages, then visit every object once: those the cross-reference table lists (reachable or not:
    a reader repairing the file may reach them) and those reachable from the trailer."""
    from pypdf.generic import IndirectObject

    root = _resolve(reader.trailer.get("/Root"))
    if not isinstance(root, dict):
        raise Refused(DAMAGED)
    _count_pages(root.get("/Pages"), budget)

    listed = [(number, generation) for generation, numbers in reader.xref.items() for number in numbers]
    listed += [(number, 0) for number in reader.xref_objStm]
    if len(listed) > MAX_OBJECTS:
        raise OverBudget(f"more than {MAX_OBJECTS:,} objects")
    seen: set[tuple[int, int]] = set()
    # Streams listed in the table come first, so object streams are inflated under the budget before pypdf
    # unpacks the objects inside them.
    pending: list[Any] = [IndirectObject(number, generation, reader) for number, generation in sorted(listed)]
    pending.reverse()
    pending.append(reader.trailer)
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            budget.visit_object()
            item = item.get_object()
        for child in _inspect_tree(item, reader, budget, findings):
            pending.append(child)


def _inspect_tree(top: Any, reader: Any, budget: Budget, findings: Findings) -> Iterator[Any]:
    """Inspect one object and the direct objects nested in it; yield the indirect references met on the way."""
    from pypdf.generic import IndirectObject, StreamObject

    stack = [top]
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            yield item
        elif isinstance(item, dict):
            if isinstance(item, StreamObject):
                _inflate(item, budget)
            _inspect_dictionary(item, findings)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _inspect_dictionary(dictionary: dict[Any, Any], findings: Findings) -> None:
    action = _name(dictionary.get("/S"))
    if action in DANGEROUS_ACTIONS:
        findings.add(DANGEROUS_ACTIONS[action])
    if action == "uri" and not _is_web_address(_resolve(dictionary.get("/URI"))):
        findings.add(BAD_URI)
    if action == "thread" and "/F" in dictionary:
        findings.add(DANGEROUS_ACTIONS["gotor"])
    if "/JS" in dictionary or "/JavaScript" in dictionary:
        findings.add(DANGEROUS_ACTIONS["javascript"])
    if {"/EmbeddedFiles", "/EF", "/EmbeddedFile"} & dictionary.keys() or _name(dictionary.get("/Type")) == (
        "embeddedfile"
    ):
        findings.add(EMBEDDED_FILE)
    if "/XFA" in dictionary:
        findings.add(XFA)
    subtype = _name(dictionary.get("/Subtype"))
    if subtype in DANGEROUS_ANNOTATIONS:
        findings.add(DANGEROUS_ANNOTATIONS[subtype])
    opening = _resolve(dictionary.get("/OpenAction"))
    if isinstance(opening, dict) and not _harmless_automatic(opening):
        findings.add(AUTOMATIC_ACTION)
    triggers = _resolve(dictionary.get("/AA"))
    if isinstance(triggers, dict):
        for trigger in triggers.values():
            triggered = _resolve(trigger)
            if not isinstance(triggered, dict) or not _harmless_automatic(triggered):
                findings.add(AUTOMATIC_ACTION)


def _harmless_automatic(action: dict[Any, Any]) -> bool:
    """An action, and every action it chains to with /Next, only goes to a page of this document."""
    pending = [action]
    for _ in range(1000):
        if not pending:
            return True
        current = _resolve(pending.pop())
        if not isinstance(current, dict) or _name(current.get("/S")) not in HARMLESS_AUTOMATIC_ACTIONS:
            return False
        following = _resolve(current.get("/Next"))
        if isinstance(following, list):
            pending.extend(following)
        elif following is not None:
            pending.append(following)
    return False


def _is_web_address(value: Any) -> bool:
    from pypdf.generic import ByteStringObject

    if isinstance(value, ByteStringObject):
        text = bytes(value).decode("latin-1")
    elif isinstance(value, str):
        text = str(value)
    else:
        return False
    # Readers drop leading spaces and control characters before they look at the scheme; so do we.
    text = text.lstrip("".join(chr(code) for code in range(33))).lower()
    return text.startswith(("http://", "https://"))


def _name(value: Any) -> str | None:
    """A name or string as the lower-case word it spells (/L#61unch and (Launch) are both "launch")."""
    value = _resolve(value)
    if isinstance(value, str):
        return str(value).removeprefix("/").lower()
    return None


def _resolve(value: Any) -> Any:
    from pypdf.generic import IndirectObject

    for _ in range(32):
        if not isinstance(value, IndirectObject):
            return value
        value = value.get_object()
    raise Refused(DAMAGED)


def _count_pages(top: Any, budget: Budget) -> None:
    """Walk the page tree: every leaf counts against the page budget, every node against the object budget."""
    from pypdf.generic import IndirectObject

    pages = 0
    ancestors_seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        reference = stack.pop()
        if isinstance(reference, IndirectObject):
            key = (reference.idnum, reference.generation)
            node = reference.get_object()
        else:
            key, node = None, reference
        if not isinstance(node, dict):
            continue
        kids = _resolve(node.get("/Kids"))
        if _name(node.get("/Type")) == "page" or (kids is None and "/Contents" in node):
            budget.visit_page()
            pages += 1
            continue
        if not isinstance(kids, list):
            continue
        if key is not None:
            if key in ancestors_seen:
                raise Refused(DAMAGED)  # a page-tree node listed twice: a loop, or a tree built to multiply
            ancestors_seen.add(key)
        budget.visit_object()
        stack.extend(kids)
    if pages == 0:
        raise Refused(NO_PAGES)


def _filters(stream: dict[Any, Any]) -> list[tuple[str | None, Any]]:
    names = _resolve(stream.get("/Filter"))
    parameters = _resolve(stream.get("/DecodeParms"))
    if names is None:
        return []
    if not isinstance(names, list):
        names, parameters = [names], [parameters]
    if not isinstance(parameters, list):
        parameters = [parameters] * len(names)
    parameters = list(parameters) + [None] * (len(names) - len(parameters))
    return [(_name(name), _resolve(parameter)) for name, parameter in zip(names, parameters, strict=False)]


def _inflate(stream: Any, budget: Budget) -> None:
    """Decode the stream's filters in turn, counting every byte produced against the budget. Flate is inflated
    in bounded steps and its output dropped unless a later filter needs it; image codecs are not decoded."""
    from pypdf.filters import ASCII85Decode, ASCIIHexDecode, LZWDecode, RunLengthDecode

    data: bytes = getattr(stream, "_data", b"") or b""
    stages = _filters(stream)
    if len(stages) > 8:
        raise OverBudget("a stream with too many filters")
    others = {
        "asciihexdecode": ASCIIHexDecode.decode,
        "ahx": ASCIIHexDecode.decode,
        "ascii85decode": ASCII85Decode.decode,
        "a85": ASCII85Decode.decode,
        "lzwdecode": LZWDecode.decode,
        "lzw": LZWDecode.decode,
        "runlengthdecode": RunLengthDecode.decode,
        "rl": RunLengthDecode.decode,
    }
    for index, (name, _parameters) in enumerate(stages):
        later_needs_output = any(later in others or later in {"flatedecode", "fl"} for later, _ in stages[index + 1 :])
        if name in {"flatedecode", "fl"}:
            data = _inflate_flate(data, budget, keep=later_needs_output)
        elif name in others:
            try:
                data = others[name](data)
            except Exception:  # a broken filter is left for the reader to cope with; what it made was counted
                return
            budget.inflate(len(data))
        else:
            return  # image codecs (DCT, JPX, CCITT, JBIG2) and unknown filters: not decoded here
        if not later_needs_output:
            return


def _inflate_flate(data: bytes, budget: Budget, *, keep: bool) -> bytes:
    inflater = zlib.decompressobj()
    kept = bytearray()
    position = 0
    pending = b""
    try:
        while True:
            if not pending:
                if position >= len(data):
                    break
                pending = data[position : position + CHUNK]
                position += CHUNK
            produced = inflater.decompress(pending, CHUNK)
            pending = inflater.unconsumed_tail
            budget.inflate(len(produced))
            if keep:
                kept += produced
            if inflater.eof:
                break
        produced = inflater.flush(CHUNK)
        budget.inflate(len(produced))
    except zlib.error:
        pass  # a damaged stream ends here, as it does in readers; what it made so far was counted
    return bytes(kept)


def limit_resources() -> None:
    """Cap this process before it reads anything: a bomb that gets past the budgets dies here, alone."""
    for limit, value in ((resource.RLIMIT_AS, ADDRESS_SPACE_LIMIT), (resource.RLIMIT_CPU, CPU_SECONDS_LIMIT)):
        _soft, hard = resource.getrlimit(limit)
        ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (ceiling, hard if hard != resource.RLIM_INFINITY else ceiling))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> int:
    limit_resources()
    data = sys.stdin.buffer.read()
    try:
        check(data)
    except Refused as refusal:
        verdict: dict[str, Any] = {"ok": False, "reason": str(refusal)}
    except MemoryError:
        verdict = {"ok": False, "reason": TOO_COMPLEX.format(why="checking it needs too much memory")}
    else:
        verdict = {"ok": True}
    sys.stdout.write(json.dumps(verdict))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
