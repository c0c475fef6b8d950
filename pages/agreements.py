"""Working agreements: each adult's annex of no-go areas, previewed and printed (PDF)."""

from __future__ import annotations

import datetime as dt

import streamlit as st
import streamlit.components.v1 as components

from geo.errors import GeoError
from ui import agreements, data, exports, people, shell
from ui.markup import md

shell.page("agreements")
view = shell.need_case()
case = view.case
st.title("Working agreements")
st.caption("The annex lists the areas a person agrees not to visit, with a map (drawn "
           "offline) and the postcode sectors. It never shows where the family lives or might "
           "live. The case's marking is on every page.")

labels = people.labels(case)
adults = people.adults(case)
if not adults:
    st.info("No adult in the case to write an agreement for: add people on Case data.")
    st.stop()

left, right = st.columns(2)
person = left.selectbox("Agreement for", adults, format_func=lambda p: labels[p],
                        key="agr_person")
worker = right.text_input("Named worker", key="agr_worker",
                          placeholder="the worker the person tells of any approach")
review = left.date_input("Review date", value=agreements.default_review(case),
                         key="agr_review")
with st.expander("The agreement's words (edit for this person)"):
    template = st.text_area("Template (TOML: title, intro, conditions, closing, signatures)",
                            agreements.template_text(), height=320, key="agr_template")

try:
    made, html = data.agreement(view, person, worker=worker, review=review, template=template,
                                as_of=dt.date.today())
except GeoError as exc:
    st.error(md(exc))
    st.stop()

st.success(f"{md(made.person)}: {len(made.no_go)} no-go area(s) covering "
           f"{len(made.sectors)} postcode sector(s); review on {made.review_date}.")
exports.guarded_download(
    "Download the annex (PDF)",
    lambda: (data.agreement_pdf(made, html), f"{view.ref}-{person}-agreement.pdf",
             "application/pdf"),
    ref=view.ref, key="agr_pdf", kind="print",
    what={"document": "working agreement", "person": person})
st.subheader("Preview")
# in a frame of its own: the annex's print styles must not restyle the app around it
components.html(html, height=900, scrolling=True)
