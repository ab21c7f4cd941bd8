"""``python -m zeroevents_core.cli``: the ``zeroevents`` command."""

import sys

from . import main

sys.exit(main())
