"""Lab procedures as data (``library/*.toml``) and a Qt-free runner."""
