import sys

from app.gui.main import main

sys.exit(main())
