"""``python -m benchmarks``: run the selected workloads on both libraries."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
