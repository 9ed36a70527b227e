"""``python -m multipower``: the ``multipower`` command line."""

import sys

from multipower.cli import main

sys.exit(main())
