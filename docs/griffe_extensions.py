"""A griffe extension for the API reference (mkdocs.yml, the Python handler's `extensions`): it reads the
docstrings as their authors meant them, without changing the source.

* A notation such as ``cost[true][predicted]`` or ``SAMPLER[@RATIO][+AUGMENT]:LEARNER`` is Markdown's reference
  link syntax; outside backticks it would be read as a link to nowhere. It is set in code.
* ``name : {"a", "b"}, default="b"``: griffe, as numpydoc's convention has it, takes the first choice in the
  braces for the default; the choices are listed with the stated default first.
* A paragraph written, after a blank line, at the margin of a numpy-style ``Parameters`` section (a note on the
  parameters as a whole, not a parameter) is moved out of the section, to just before it
  (the numpy style has no end to a section but the next one).
"""

from __future__ import annotations

import re

import griffe

NOTATION = re.compile(r"(?<![`\w])([\w.]*(?:\[[^\]\s`]+\]){2,}[\w:.]*)(?![`\w])")
SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)
CHOICES = re.compile(r"^(?P<head>\w+ : )\{(?P<choices>[^}]+)\}, default=(?P<default>.+)$", re.M)
PARAMETER = re.compile(r"^\*{0,2}\w+(\s*,\s*\w+)*(\s*:.*)?$")


def code_notations(text: str) -> str:
    """Notations with two bracket pairs or more, outside code spans, set in code."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside backticks
        parts[i] = NOTATION.sub(r"`\1`", parts[i])
    return "`".join(parts)


def default_first(text: str) -> str:
    """Choices in braces with the stated default first."""
    def order(match):
        choices = [c.strip() for c in match["choices"].split(",")]
        default = match["default"].strip()
        if default not in choices:
            return match[0]
        return match["head"] + "{" + ", ".join([default, *(c for c in choices if c != default)]) + "}"
    return CHOICES.sub(order, text)


def parameter_notes_after(text: str) -> str:
    """Margin paragraphs of a Parameters section moved before the section."""
    headings = list(SECTION.finditer(text))
    for index, heading in enumerate(headings):
        if heading.group(1) != "Parameters":
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        body = text[heading.end():end]
        blocks = re.split(r"\n\s*\n", body.strip("\n"))
        kept, notes = [], []
        for block in blocks:
            first = block.splitlines()[0]
            (kept if first.startswith((" ", "\t")) or PARAMETER.match(first) else notes).append(block)
        if not notes:
            return text
        section = "\n\n".join(kept)
        return (text[:heading.start()] + "\n\n".join(notes) + "\n\n" + text[heading.start():heading.end()] + "\n"
                + section + "\n\n" + text[end:]).rstrip()
    return text


class DocstringNotations(griffe.Extension):
    """Applies the fixes to every docstring griffe reads."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = parameter_notes_after(default_first(code_notations(obj.docstring.value)))
