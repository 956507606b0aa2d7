"""Site file → checked :class:`~anyrack.site.model.Site`; every error cites file, line and key."""

from __future__ import annotations

from pathlib import Path

from anyrack import document
from anyrack.errors import InvalidInput
from anyrack.site.checks import check_site
from anyrack.site.model import Site
from anyrack.validation import validate


def load_site(path: Path | str, name: str | None = None) -> Site:
    """Read, validate and cross-check one site file.

    Raises:
        InvalidInput: with every problem found, each located by file, line and key.
    """
    doc = document.load(path, name)
    site = validate(doc, Site)
    findings = check_site(site)
    if findings:
        raise InvalidInput(sorted((doc.problem(loc, msg) for loc, msg in findings), key=lambda p: p.line))
    return site
