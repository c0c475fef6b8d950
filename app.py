"""Safe Location Planner: the Streamlit app (``streamlit run app.py``)."""

from __future__ import annotations

from ui import shell

shell.setup()
# declared before any slow work, so Streamlit knows at once that this app uses st.navigation;
# nobody signed in sees only the sign-in screen
navigation = shell.navigation()
info = shell.start()
shell.banner(info)
navigation.run()
