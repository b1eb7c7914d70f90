"""HTR-JAND Studio application layer: the Qt window (``app.gui``) and the ``htrjand`` CLI."""
