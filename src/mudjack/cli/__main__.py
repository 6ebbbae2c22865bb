"""``python -m mudjack.cli``: the same as the ``mudjack`` command."""

import sys

from mudjack.cli import main

sys.exit(main())
