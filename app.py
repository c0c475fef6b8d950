"""Safe Location Planner: the Streamlit app (``streamlit run app.py``)."""

from __future__ import annotations

import streamlit as st

from ui import shell

shell.setup()
# declared before any slow work, so Streamlit knows at once that this app uses st.navigation
navigation = st.navigation([
    st.Page("pages/cases.py", title="Cases", icon=":material/folder_open:", default=True),
    st.Page("pages/map.py", title="Map", icon=":material/map:"),
    st.Page("pages/candidates.py", title="Candidates", icon=":material/home_work:"),
    st.Page("pages/areas.py", title="Safe areas", icon=":material/shield:"),
    st.Page("pages/network.py", title="Street network", icon=":material/route:"),
    st.Page("pages/agreements.py", title="Agreements", icon=":material/description:"),
    st.Page("pages/case_data.py", title="Case data", icon=":material/table:"),
], position="top")
info = shell.start()
shell.banner(info)
navigation.run()
