"""One QUndoCommand per edit: a line's text, a dismissed suggestion, a deleted line, a drawn
line, a moved line.

Commands change the document only through :class:`~app.gui.project_model.ProjectModel`, which
marks the page dirty (autosave) and tells the views.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from engine.document import Line, Origin, Region

TEXT_COMMAND_ID = 1


class SetLineText(QUndoCommand):
    """A person's correction of one line. Keystrokes of one editing visit merge into one command.

    The line becomes ``Origin.PERSON``; the model's text is kept in ``model_text``. A pending
    post-correction suggestion is cleared (the line is the person's now; undo brings it back).
    Accepting a suggestion is this same command with the suggestion as ``text``.
    """

    def __init__(self, model, stem: str, line: Line, text: str, visit: int,
                 label: str = "") -> None:
        super().__init__(label or f"Edit line {line.id}")
        self.model, self.stem, self.line_id, self.visit = model, stem, line.id, visit
        self.old = (line.text, line.origin, line.model_text, line.suggestion)
        model_text = line.model_text
        if model_text is None and line.origin == Origin.MODEL:
            model_text = line.text
        self.new = (text, Origin.PERSON, model_text, None)

    def id(self) -> int:
        return TEXT_COMMAND_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetLineText) or (other.stem, other.line_id, other.visit) != (
                self.stem, self.line_id, self.visit):
            return False
        self.new = (other.new[0], *self.new[1:])
        return True

    def redo(self) -> None:
        self.model.apply_text(self.stem, self.line_id, *self.new)

    def undo(self) -> None:
        self.model.apply_text(self.stem, self.line_id, *self.old)


class DismissSuggestion(QUndoCommand):
    """A person's "no" to a line's post-correction suggestion (Esc).

    The suggestion goes, and ``dismissed[(stem, line id)]`` remembers the text it was for, so a
    later computation does not offer one again for the same text.
    """

    def __init__(self, model, stem: str, line: Line, dismissed: dict[tuple[str, str], str]) -> None:
        super().__init__(f"Dismiss suggestion for line {line.id}")
        self.model, self.stem, self.line_id, self.dismissed = model, stem, line.id, dismissed
        self.suggestion, self.text = line.suggestion, line.text
        self.before = dismissed.get((stem, line.id))

    def redo(self) -> None:
        self.dismissed[(self.stem, self.line_id)] = self.text
        self.model.set_suggestion(self.stem, self.line_id, None)

    def undo(self) -> None:
        if self.before is None:
            self.dismissed.pop((self.stem, self.line_id), None)
        else:
            self.dismissed[(self.stem, self.line_id)] = self.before
        self.model.set_suggestion(self.stem, self.line_id, self.suggestion)


class DeleteLine(QUndoCommand):
    def __init__(self, model, stem: str, line_id: str) -> None:
        super().__init__(f"Delete line {line_id}")
        self.model, self.stem, self.line_id = model, stem, line_id
        self.place: tuple[int, int, Line] | None = None

    def redo(self) -> None:
        self.place = self.model.remove_line(self.stem, self.line_id)

    def undo(self) -> None:
        if self.place is not None:
            region_index, line_index, line = self.place
            self.model.insert_line(self.stem, region_index, line_index, line)


class AddLine(QUndoCommand):
    """A drawn line, in ``region`` (a new region when the page had none)."""

    def __init__(self, model, stem: str, region_index: int, line_index: int, line: Line,
                 new_region: Region | None = None) -> None:
        super().__init__(f"Draw line {line.id}")
        self.model, self.stem, self.line = model, stem, line
        self.region_index, self.line_index, self.new_region = region_index, line_index, new_region

    def redo(self) -> None:
        self.model.insert_line(self.stem, self.region_index, self.line_index, self.line,
                               self.new_region)

    def undo(self) -> None:
        self.model.remove_line(self.stem, self.line.id)
        if self.new_region is not None:
            self.model.drop_region(self.stem, self.new_region.id)


class MoveLine(QUndoCommand):
    """Move a line one place up (-1) or down (+1) in reading order."""

    def __init__(self, model, stem: str, line_id: str, delta: int) -> None:
        super().__init__(f"Move line {line_id} {'up' if delta < 0 else 'down'}")
        self.model, self.stem, self.line_id, self.delta = model, stem, line_id, delta
        self.moved = False

    def redo(self) -> None:
        self.moved = self.model.move_line(self.stem, self.line_id, self.delta)
        if not self.moved:
            self.setObsolete(True)

    def undo(self) -> None:
        if self.moved:
            self.model.move_line(self.stem, self.line_id, -self.delta)


class ReplaceRegions(QUndoCommand):
    """A page's regions and lines replaced at once by a background job's result."""

    def __init__(self, model, stem: str, old: list[Region], new: list[Region], text: str) -> None:
        super().__init__(text)
        self.model, self.stem, self.old, self.new = model, stem, old, new

    def redo(self) -> None:
        self.model.set_regions(self.stem, self.new)

    def undo(self) -> None:
        self.model.set_regions(self.stem, self.old)
