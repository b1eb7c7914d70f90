"""Entry point of the built application: one program under two names sharing one folder.

``htrjand-studio`` (``.exe`` on Windows) opens the window, ``htrjand`` is the command line; the
name the program was started under chooses. See ``build.spec``.

A built folder has no Python to run ``python -m training.finetune``, so the window's fine-tuning
child is the built program itself: ``htrjand --finetune-child --json ...`` runs the trainer
(``training.finetune.main``), the only process of the build that imports torch.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

GUI_NAME = "htrjand-studio"
CLI_NAME = "htrjand"
TRAINER_FLAG = "--finetune-child"  # hidden: see app.gui.finetune_runner.child_command


def program_name() -> str:
    """The name the program runs under, without suffix (``htrjand-studio``, ``htrjand``)."""
    path = sys.executable if getattr(sys, "frozen", False) else sys.argv[0]
    return Path(path).stem.lower()


def main() -> int:
    multiprocessing.freeze_support()  # worker processes of a built program re-enter here
    if sys.argv[1:2] == [TRAINER_FLAG]:
        from training.finetune import main as trainer_main

        return trainer_main(sys.argv[2:])
    if program_name().startswith(GUI_NAME):
        from app.gui.main import main as gui_main

        return gui_main()
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
