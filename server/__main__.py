"""``python -m server [options]``: the same as ``game-agent serve [options]``."""

import sys

from server.cli import main

sys.exit(main())
