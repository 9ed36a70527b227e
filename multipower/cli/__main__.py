"""``python -m multipower.cli``: the ``multipower`` command line (as ``python -m multipower``)."""

import sys

from multipower.cli import main

if __name__ == "__main__":
    sys.exit(main())
