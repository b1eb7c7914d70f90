"""One family of exceptions for bad input, raised at the edge of the engine.

The CLI and the GUI turn these into a message a person can act on; anything else that escapes
is a bug.
"""

from __future__ import annotations


class HtrError(Exception):
    """Base class of every error the engine reports to a person."""


class FormatError(HtrError):
    """A document file (PAGE-XML, ALTO, TXT) is unreadable, malformed or of an unknown kind."""


class ImageError(HtrError):
    """An image file is missing, corrupt, of an unsupported kind or unusable."""


class GeometryError(HtrError):
    """A polygon or baseline cannot be used (too few points, empty area, outside the image)."""


class ModelError(HtrError):
    """A model file is missing, corrupt or does not match what the engine expects."""


class StorageError(HtrError):
    """A file could not be written (read-only folder, full disk); the previous file is intact."""


class CancelledError(HtrError):
    """A long job was cancelled by the user."""
