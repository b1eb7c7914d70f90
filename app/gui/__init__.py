"""The HTR-JAND Studio window (PySide6): open a project, correct lines, save, export.

Start it with ``python -m app.gui [folder-or-files]`` or the ``htrjand-studio`` script.
"""
