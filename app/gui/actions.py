"""Menus, actions and shortcuts of the main window (every action has a menu entry)."""

from __future__ import annotations

from functools import partial

from PySide6.QtGui import QAction, QKeySequence

from app.gui import job_actions


def _action(window, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    return action


def _fill_recent(window, menu) -> None:
    menu.clear()
    recent = window.settings.recent_projects()
    for path in recent:
        action = menu.addAction(path)
        action.triggered.connect(partial(lambda p, _=False: window.open_paths([p]), path))
    if not recent:
        menu.addAction("(none yet)").setEnabled(False)


def _open(window, module: str):
    """Open one of the dialogs of ``app.gui.<module>`` (imported on first use)."""
    import importlib

    return importlib.import_module(f"app.gui.{module}").open_for(window)


def build(window) -> dict[str, QAction]:
    """Create the menu bar; returns the actions by name (tests trigger them)."""
    bar = window.menuBar()
    acts: dict[str, QAction] = {}
    file_menu = bar.addMenu("&File")
    acts["open_folder"] = _action(window, file_menu, "Open &Folder…", window.open_folder_dialog,
                                  QKeySequence.Open, "Open a folder of page images as a project")
    acts["open_files"] = _action(window, file_menu, "Open F&iles…", window.open_files_dialog,
                                 "Ctrl+Shift+O", "Open page images or PAGE-XML/ALTO files")
    recent = file_menu.addMenu("Open &Recent")
    recent.aboutToShow.connect(lambda: _fill_recent(window, recent))
    _fill_recent(window, recent)
    file_menu.addSeparator()
    acts["save"] = _action(window, file_menu, "&Save", window.save, QKeySequence.Save)
    acts["export"] = _action(window, file_menu, "&Export…", window.export_dialog, "Ctrl+E",
                             "Export the page or the project to PAGE-XML, TXT or ALTO")
    file_menu.addSeparator()
    acts["settings"] = _action(window, file_menu, "Se&ttings…", window.settings_dialog,
                               QKeySequence.Preferences)
    acts["quit"] = _action(window, file_menu, "&Quit", window.close, QKeySequence.Quit)

    edit = bar.addMenu("&Edit")
    undo = window.model.undo_group.createUndoAction(window, "&Undo")
    undo.setShortcuts([QKeySequence.Undo])
    redo = window.model.undo_group.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    edit.addAction(undo)
    edit.addAction(redo)
    acts["undo"], acts["redo"] = undo, redo
    acts["accept_suggestion"] = _action(window, edit, "Accept &Suggestion",
                                        window.accept_suggestion, "Ctrl+Return",
                                        "Use the post-correction suggestion as the line's text")
    acts["dismiss_suggestion"] = _action(window, edit, "Dis&miss Suggestion (Esc)",
                                         window.dismiss_suggestion,
                                         tip="Drop the suggestion; it is not offered again")
    edit.addSeparator()
    acts["draw_line"] = _action(window, edit, "&Draw New Line", window.draw_line, "Ctrl+L",
                                "Click the points of a baseline in the page")
    acts["delete_line"] = _action(window, edit, "De&lete Line", window.delete_line,
                                  "Ctrl+Shift+D")
    acts["move_up"] = _action(window, edit, "Move Line &Up", lambda: window.move_line(-1),
                              "Alt+Up", "Move the line earlier in reading order")
    acts["move_down"] = _action(window, edit, "Move Line Do&wn", lambda: window.move_line(1),
                                "Alt+Down", "Move the line later in reading order")

    nav = bar.addMenu("&Go")
    acts["next_line"] = _action(window, nav, "&Next Line (Enter / Down)",
                                lambda: window.step_line(1), "Ctrl+Down")
    acts["previous_line"] = _action(window, nav, "&Previous Line (Up)",
                                    lambda: window.step_line(-1), "Ctrl+Up")
    acts["next_page"] = _action(window, nav, "Next Pa&ge", lambda: window.step_page(1),
                                "Ctrl+PgDown")
    acts["previous_page"] = _action(window, nav, "Previous P&age", lambda: window.step_page(-1),
                                    "Ctrl+PgUp")

    view = bar.addMenu("&View")
    acts["zoom_in"] = _action(window, view, "Zoom &In", lambda: window.view.zoom(1.25),
                              QKeySequence.ZoomIn)
    acts["zoom_out"] = _action(window, view, "Zoom &Out", lambda: window.view.zoom(0.8),
                               QKeySequence.ZoomOut)
    acts["fit"] = _action(window, view, "&Fit Page", window.view.fit_page, "Ctrl+0")

    run = bar.addMenu("&Run")
    acts["segment_page"] = _action(window, run, "&Segment Page",
                                   lambda: job_actions.segment(window, "page"), "Ctrl+Shift+G")
    acts["recognize_page"] = _action(window, run, "&Recognise Page",
                                     lambda: job_actions.recognize(window, "page"), "Ctrl+R")
    run.addSeparator()
    acts["segment_project"] = _action(window, run, "Segment &Project (pages without lines)",
                                      lambda: job_actions.segment(window, "project"))
    acts["recognize_project"] = _action(window, run, "Recognise Whole Pro&ject",
                                        lambda: job_actions.recognize(window, "project"),
                                        "Ctrl+Shift+R")
    run.addSeparator()
    acts["finetune"] = _action(window, run, "&Train on My Corrections…",
                               lambda: _open(window, "finetune_dialog"), "Ctrl+Shift+T",
                               "Fine-tune the recognizer on the lines you corrected")
    acts["model_versions"] = _action(window, run, "Model &Versions…",
                                     lambda: _open(window, "model_versions"),
                                     tip="Models trained on your corrections; switch between them")
    run.addSeparator()
    acts["cancel_job"] = _action(window, run, "&Cancel Job", window.runner.cancel, "Ctrl+.")

    help_menu = bar.addMenu("&Help")
    acts["welcome"] = _action(window, help_menu, "&Welcome and Sample Page…",
                              window.welcome_dialog)
    acts["shortcuts"] = _action(window, help_menu, "&Keyboard Shortcuts…",
                                window.shortcuts_dialog, QKeySequence.HelpContents)
    help_menu.addSeparator()
    acts["about"] = _action(window, help_menu, "&About", window.about)
    return acts
