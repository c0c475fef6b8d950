"""Candidates: tune weights and limits, see the ranked table and map, upload a vacancy list,
download the ranking."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from geo.errors import GeoError
from geo.maps import routes_layer
from geo.rank import rank, rank_with_routes
from ui import candidates, data, exports, mapview, network, people, shell
from ui.markup import md

shell.page("candidates")

view = shell.need_case()
case = view.case
policy = data.policy(view)
st.title("Candidates")

labels = people.labels(case)
default_household = people.default_household(case)

with st.sidebar:
    st.subheader("Who is moving")
    movers = st.multiselect("People being relocated", list(labels), default=default_household,
                            format_func=lambda p: labels[p], key="cand_people")
    st.subheader("Weights")
    w = policy.table("weights")
    weights = {
        "threat": st.slider("Threat (distance from danger)", 0.0, 1.0, float(w["threat"]),
                            0.05, key="cand_w_threat"),
        "school": st.slider("School run", 0.0, 1.0, float(w["school"]), 0.05,
                            key="cand_w_school"),
        "support": st.slider("Distance from support", 0.0, 1.0, float(w["support"]), 0.05,
                             key="cand_w_support"),
    }
    st.subheader("Hard limits")
    lim = policy.table("limits")
    limits = {
        "max_school_min": st.slider("Longest school run (minutes; 0 = no limit)", 0, 120,
                                    int(lim["max_school_min"]), 5, key="cand_max_school"),
        "max_support_km": st.slider("Furthest from support (km; 0 = no limit)", 0, 60,
                                    int(lim["max_support_km"]), 1, key="cand_max_support"),
        "min_bedrooms": st.slider("Bedrooms needed (0 = any)", 0, 6,
                                  int(lim["min_bedrooms"]), 1, key="cand_beds"),
    }

upload = st.file_uploader("Rank a vacancy list instead (CSV with candidate_id, label and "
                          "postcode, or lat/lon, or easting/northing)", type=["csv"],
                          key="cand_upload")
others, others_key = None, ""
if upload is not None:
    try:
        others, others_key = candidates.read_vacancies(upload)
    except GeoError as exc:
        st.error(f"The vacancy list was not used: {md(exc)}")
        st.dataframe(candidates.failed_rows(exc), hide_index=True, width="stretch")
    else:
        st.success(f"Ranking {len(others)} vacancies from {md(upload.name)} (geocoded offline).")

if not movers:
    st.info("Choose who is moving (sidebar) to rank the candidates for them.")
    st.stop()
graph_name, travel = network.usable(view.ref, policy)
routes = None
try:
    candidates.check_weights(weights)
    assessed = data.assessment(view, tuple(movers), dt.date.today(),
                               candidates_key=others_key, candidates=others,
                               graph_key=graph_name or "", travel=travel)
    if travel is None:
        ranked = rank(assessed, weights=weights, limits=limits)
    else:
        zones = data.route_zones(view, tuple(movers), dt.date.today())
        ranked, routes = rank_with_routes(assessed, travel, zones, weights=weights,
                                          limits=limits)
except GeoError as exc:
    st.error(md(exc))
    st.stop()

n_ok = int(ranked["eligible"].sum())
if routes is None:
    runs = (f"{assessed.travel_note}; add a street file on the Street network screen for real "
            "school-run times.")
else:
    on_net = int((~ranked["school_min_estimated"].astype(bool)).sum())
    runs = (f"{assessed.travel_note} ({md(graph_name)}) for {on_net} of {len(ranked)} "
            f"candidates{'' if on_net == len(ranked) else ', the rest estimated'}; "
            f"{int((routes['status'] == 'ok').sum())} of the best have their school routes "
            "checked.")
st.caption(f"{n_ok} of {len(ranked)} candidates are eligible for "
           f"{md(', '.join(labels[p] for p in movers))}. School runs: {runs}")
if weights["threat"] == 0:
    st.warning("The threat weight is 0: eligible candidates are ordered by school run and "
               "support only, however close they are to danger. Exclusion zones and hard "
               "limits still apply.")
st.text("Best now: " + candidates.best_line(ranked))
table_col, detail_col = st.columns([2, 1])
with table_col:
    picked = st.dataframe(candidates.table(ranked), hide_index=True, width="stretch",
                          height=430, on_select="rerun", selection_mode="single-row",
                          key="cand_table",
                          # a long label must not push the score out of sight
                          column_config={"Label": st.column_config.TextColumn(width="medium"),
                                         "Reasons": st.column_config.TextColumn(
                                             width="large")})
    exports.guarded_download(
        "Download the ranking (CSV)",
        lambda: (candidates.download(ranked), f"{view.ref}-ranking.csv", "text/csv"),
        ref=view.ref, key="cand_export", what={"layer": "ranking", "rows": len(ranked)})
with detail_col:
    rows = picked.selection.rows if picked and picked.selection else []
    if rows:
        for heading, text in candidates.explanation(ranked.iloc[rows[0]]):
            st.markdown(f"**{heading}**")
            st.text(text)
    else:
        st.caption("Select a row to see the candidate's full explanation.")

with st.expander("How threats are decided: the rules"):
    st.dataframe(candidates.rules_table(), hide_index=True, width="stretch")
    st.caption("Rivals are every group other than the subject's. Each threat source in the "
               "reasons came from one of these rules; their strengths and distances are in "
               "the case's policy.")

st.subheader("The top candidates on the map")
top_n = st.slider("Highlight the top", 5, 50, 20, 5, key="cand_top")
layers = {"ranked": ranked, "zones": data.zones(view, dt.date.today()),
          "sectors": data.sectors(data.study_bounds(case))}
if routes is not None:
    layers["extra_layers"] = {"School routes": routes_layer(routes)}
m = mapview.build_map(case, policy, layers,
                      data.settings(), as_of=dt.date.today(), draw=False, show_heat=False,
                      top_n=top_n)
result = mapview.show(m, key="cand_map", height=520)
found = mapview.clicked(result, {"candidates": ranked})
if found is not None:
    for heading, text in candidates.explanation(found[1]):
        st.markdown(f"**{heading}**")
        st.text(text)
