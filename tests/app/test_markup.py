"""Case text in Streamlit's Markdown is shown as typed: no links, images, formatting, maths,
directives, lists or headings, whatever a name, a file name or an error message holds."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ui.markup import html_text, md, shown

#: a character Markdown would read as syntax, not preceded by a backslash escape
UNESCAPED = re.compile(r"(?<!\\)(?:\\\\)*[\[\]<>`*_~$|&#]")


@pytest.mark.parametrize(("text", "markdown"), [
    ("![t](http://evil.example/p.png)",
     "!\\[t\\](http\u2060://evil.example/p.png)"),
    ("**bold** _it_ `code` ~~gone~~", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~gone\\~\\~"),
    ("$x^2$ :red[red] :material/home:", "\\$x^2\\$ \\:red\\[red\\] \\:material/home:"),
    ("<img src=x> &lt; #1", "\\<img src=x\\> \\&lt; \\#1"),
    ("www.evil.example a@b.example", "www\u2060.evil.example a@\u2060b.example"),
    ("1. first\n  - second\n+ third\n===", "1\\. first\n\\- second\n\\+ third\n\\==="),
    ("row 3: postcode 'M1 1AE' is unknown", "row 3: postcode 'M1 1AE' is unknown"),
    ("Stretford_extract.osm", "Stretford\\_extract.osm"),
])
def test_markdown_syntax_is_escaped(text, markdown):
    assert md(text) == markdown


def test_plain_words_are_unchanged():
    assert md("Leanne Ashdown (partner)") == "Leanne Ashdown (partner)"
    assert md(ValueError("no such case: X-1")) == "no such case: X-1"


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\u2060\r"),
               max_size=60))
def test_what_is_shown_is_what_was_typed(text):
    out = md(text)
    assert shown(out) == re.sub(r"^[ \t]+", "", text, flags=re.MULTILINE)
    assert not UNESCAPED.search(out)
    assert not re.search(r"(?i)https?://|www\.", out)


def test_html_text_is_escaped_and_on_one_line():
    assert html_text("a <b>\n\n![x](http://e)") == "a &lt;b&gt; ![x](http://e)"
