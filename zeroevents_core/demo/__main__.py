"""``python -m zeroevents_core.demo``: the same as ``zeroevents demo``."""

import sys

from . import main

sys.exit(main())
