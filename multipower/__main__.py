"""``python -m multipower``: the ``multipower`` command line."""

import sys

from multipower.cli import main

if __name__ == "__main__":
    sys.exit(main())
