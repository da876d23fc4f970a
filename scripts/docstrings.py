"""Docstring harvesting shared by ``build_embedded_dataset.py`` and ``build_devbench.py``.

A docstring of a summary line plus a body becomes a pair: the summary is the question, the body
the source. ``members`` lists a module's own public functions, classes and methods (stdlib
style); ``split_docstring`` cuts a docstring into (summary, body); ``clean_docstring`` turns a
numpydoc / reST docstring into plain prose first (section underlines, examples, directives and
roles removed; the prose and the parameter descriptions kept).
"""

from __future__ import annotations

import inspect
import re

MIN_SUMMARY_WORDS, MAX_SUMMARY_WORDS = 4, 30
MIN_BODY_WORDS, MAX_BODY_WORDS = 8, 110


def _own(obj, module) -> bool:
    """Defined by this module (or by its C accelerator, e.g. ``_collections`` or ``posix``)."""
    owner = getattr(obj, "__module__", None)
    base = module.__name__.split(".")[-1]
    if isinstance(owner, str) and owner.startswith(module.__name__ + "."):
        return True  # defined in a submodule of a package (asyncio.events, email.message, ...)
    return owner in (module.__name__, f"_{base}", "posix", base) or owner is None and inspect.isbuiltin(obj)


def _callable_member(sub) -> bool:
    return (inspect.isfunction(sub) or inspect.ismethoddescriptor(sub) or inspect.isbuiltin(sub)
            or isinstance(sub, (classmethod, staticmethod, property)))


def class_members(qualname: str, cls):
    """``(qualname, object)`` of the public methods and properties a class defines itself."""
    try:
        items = sorted(vars(cls).items())
    except TypeError:
        return
    for attr, sub in items:
        if not attr.startswith("_") and _callable_member(sub):
            yield f"{qualname}.{attr}", getattr(sub, "__func__", getattr(sub, "fget", sub))


def members(module):
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not _own(obj, module):
            continue
        if inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj
            yield from class_members(f"{module.__name__}.{name}", obj)
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield f"{module.__name__}.{name}", obj


def split_docstring(doc: str) -> tuple[str, str] | None:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", doc.strip()) if p.strip()]
    if len(paragraphs) == 1:  # "Summary sentence. More sentences..." in one paragraph
        parts = re.split(r"(?<=[a-z)][.])\s+(?=[A-Z])", " ".join(paragraphs[0].split()), maxsplit=1)
        paragraphs = parts if len(parts) == 2 else paragraphs
    if len(paragraphs) < 2:
        return None
    summary = " ".join(paragraphs[0].split())
    if not summary[:1].isupper() or "=" in summary or "(" in summary.split(" ")[0] or "->" in summary:
        return None  # a signature line, not a sentence
    body_words = " ".join(" ".join(paragraphs[1:]).split()).split(" ")
    if not MIN_SUMMARY_WORDS <= len(summary.split()) <= MAX_SUMMARY_WORDS or len(body_words) < MIN_BODY_WORDS:
        return None
    if ">>>" in paragraphs[1][:10]:
        return None
    return summary, " ".join(body_words[:MAX_BODY_WORDS])


# --- numpydoc / reST clean-up -------------------------------------------------------------------

# Sections whose content is code, cross-references or citations, not prose about the object.
DROPPED_SECTIONS = {"examples", "example", "see also", "references", "seealso"}
_UNDERLINE = re.compile(r"^\s*([-=~^*])\1{2,}\s*$")
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")  # "add(x1, x2, /, out=None)" (C functions, ufuncs)
_ROLE = re.compile(r":[\w:+-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :func:`~numpy.sum` -> numpy.sum
_LITERAL = re.compile(r"``(.+?)``")
_INTERPRETED = re.compile(r"(?<![\w`])`~?([^`]+)`(?!`)(_)?")  # `~numpy.sum` -> numpy.sum
_CITATION = re.compile(r"\s*\[[\w#*-]+\]_")  # "[1]_"
_DIRECTIVE = re.compile(r"^\s*\.\.\s")  # ".. versionadded:: 1.2", ".. math::", ".. [1] ..."


def clean_markup(text: str) -> str:
    """Plain text from reST inline markup: roles, literals and citations."""
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _INTERPRETED.sub(r"\1", text)
    text = _CITATION.sub("", text)
    return text.replace("~.", "").replace("\\", "")


def clean_docstring(doc: str) -> str:
    """A numpydoc / Google / reST docstring as paragraphs of plain text.

    Section headers keep their name (``Parameters:``) and lose their underline; the Examples,
    See Also and References sections, doctest lines, directives (with their indented block) and
    a leading signature line (C functions and ufuncs) are dropped.
    """
    lines = inspect.cleandoc(doc).splitlines()
    if lines and _SIGNATURE.match(lines[0].strip()):
        lines = lines[1:]
    out: list[str] = []
    skip_section = False
    directive_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if stripped and _UNDERLINE.match(nxt) and not _UNDERLINE.match(line):  # numpydoc section header
            name = stripped.rstrip(":").lower()
            skip_section = name in DROPPED_SECTIONS
            directive_indent = None
            if not skip_section:
                out.extend(["", f"{stripped.rstrip(':')}:"])
            i += 2
            continue
        if re.match(r"^(Examples?|See Also|References)::?$", stripped):  # Google style header
            skip_section, directive_indent = True, None
            i += 1
            continue
        if skip_section:
            i += 1
            continue
        if directive_indent is not None:
            if not stripped or indent > directive_indent:
                i += 1
                continue
            directive_indent = None
        if _DIRECTIVE.match(line):
            directive_indent = indent
            i += 1
            continue
        if stripped.startswith(">>>"):  # a doctest and its output run to the next blank line
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if _UNDERLINE.match(line):
            i += 1
            continue
        out.append(clean_markup(line))
        i += 1
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", "\n".join(out)).strip()
