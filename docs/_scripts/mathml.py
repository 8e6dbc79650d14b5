"""mkdocs hook: the TeX that ``pymdownx.arithmatex`` (``generic: true``) protects becomes MathML at build time.

Browsers render MathML natively, so the site needs no JavaScript and no CDN for its formulas (it renders offline,
as the docs' Chromium check does). A formula latex2mathml cannot read is a build warning, so ``--strict`` fails.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.plugins.lossreg_mathml")

# arithmatex's generic output: <span class="arithmatex">\(...\)</span> and <div class="arithmatex">\[...\]</div>
_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</(?P=tag)>', re.DOTALL
)


def on_page_content(content: str, page: Any, **_: Any) -> str:
    def mathml(found: re.Match[str]) -> str:
        tex = html.unescape(found.group("tex")).strip()
        display = "block" if found.group("open") == "[" else "inline"
        try:
            return convert(tex, display=display)
        except Exception as error:  # any failure of the converter is a bad formula on this page
            log.warning("%s: cannot convert the formula %r to MathML: %s", page.file.src_uri, tex, error)
            return found.group(0)

    return _MATH.sub(mathml, content)
