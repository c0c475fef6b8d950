"""Streamlit helpers: the only Streamlit code outside ``app.py`` and ``pages/``."""
