"""Safe Location Planner: the app's entry page (the demo case until cases are stored)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import streamlit as st

from geo.model import LAYERS
from ui.data import demo_case_path, load_case

st.set_page_config(page_title="Safe Location Planner", layout="wide")

case = load_case(str(demo_case_path()))
st.warning(f"**{case.classification}**: {case.case_ref}, {case.title}", icon="🔒")
st.title("Safe Location Planner")
st.caption("Demo case. Every person in it is fictional. Nothing is sent off this machine.")

counts = pd.DataFrame(
    {"layer": list(case.counts()), "rows": list(case.counts().values()),
     "what": [LAYERS[name].description for name in case.counts()]}
)
left, right = st.columns([2, 3])
left.subheader("Layers")
left.dataframe(counts, hide_index=True, use_container_width=True)

fig, ax = plt.subplots(figsize=(7, 7))
case["activity_areas"].plot(ax=ax, column="group_id", alpha=0.35, cmap="coolwarm")
case["candidates"].plot(ax=ax, markersize=4, color="grey", label="candidates")
case["incidents"].plot(ax=ax, markersize=14, color="black", marker="x", label="incidents")
case["addresses"].plot(ax=ax, markersize=24, color="orange", label="linked addresses")
ax.set_axis_off()
ax.legend(loc="lower left")
right.subheader("The case on a map (British National Grid)")
right.pyplot(fig)
