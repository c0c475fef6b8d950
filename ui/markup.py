"""Case text inside Streamlit's Markdown (messages, captions, alerts): shown as typed.

Streamlit renders the body of ``st.markdown``, ``st.caption``, ``st.success``, ``st.error``
and the like as Markdown. A person's name, a file name or an error message quoting a value
from an uploaded file could otherwise become a link, an image fetched from another host when
the screen is drawn, a heading, a list or formatting. :func:`md` backslash-escapes what would
start such a construct, so the value is shown exactly as it was typed.
"""

from __future__ import annotations

import html
import re

#: characters that open an inline construct: code, emphasis, strike-through, links and
#: images, HTML, maths, tables, entities, headings, and a colon before a letter (Streamlit
#: reads ``:name`` as a directive: a colour, an icon, or nothing, and drops the word)
_INLINE = re.compile(r"([\\`*_~\[\]<>$|&#]|:(?=[A-Za-z]))")
#: U+2060 WORD JOINER: invisible, and not part of a web address
_WJ = "\u2060"
#: what makes a line a list item, a setext heading underline or a quote
_LINE_START = re.compile(r"^(\d+(?=[.)])|[-+=])", re.MULTILINE)


def md(value: object) -> str:
    """``value`` as Markdown that displays as ``str(value)`` (less any indentation), with no
    links, images or formatting."""
    text = _INLINE.sub(r"\\\1", str(value))
    # GitHub-flavoured Markdown makes links of bare web and e-mail addresses in the text it
    # has parsed (escapes already undone), so an invisible word joiner breaks the pattern
    text = (text.replace("://", _WJ + "://").replace("www.", "www" + _WJ + ".")
            .replace("@", "@" + _WJ))
    # a line's leading spaces would make a code block; list markers and underlines escaped
    return _LINE_START.sub(_escape_start, re.sub(r"^[ \t]+", "", text, flags=re.MULTILINE))


def _escape_start(match: re.Match) -> str:
    marker = match.group(1)
    # "1." or "1)": escape the punctuation after the number; "-", "+", "=": the sign itself
    return marker + "\\" if marker.isdigit() else "\\" + marker


def shown(markdown: str) -> str:
    """What :func:`md` text displays as (backslash escapes removed): for tests and logs."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(_WJ, "")


def html_text(value: object) -> str:
    """Text for a line of raw HTML inside Markdown (``unsafe_allow_html``): escaped, and on
    one line, since a blank line would end the HTML and let Markdown read the rest."""
    return html.escape(" ".join(str(value).split()), quote=True)
