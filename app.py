"""Safe Location Planner: the Streamlit app (``streamlit run app.py``)."""

from __future__ import annotations

from ui import shell

shell.setup()
# declared before any slow work, so Streamlit knows at once that this app uses st.navigation;
# nobody signed in sees only the sign-in screen
navigation = shell.navigation()
titles = shell.shows_titles(navigation)  # not on the meeting view's shared screen
info = shell.start(titles=titles)
shell.banner(info, title=titles)
navigation.run()
