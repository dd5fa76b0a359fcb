"""``python -m tickwork.cli``: the same as the ``tickwork`` command."""

import sys

from . import main

sys.exit(main())
