"""The PySide6 desktop workbench. The only package that imports Qt."""
