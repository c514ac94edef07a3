"""``python -m realtime_nmf`` runs the ``rtnmf`` command."""

import sys

from .cli import main

sys.exit(main())
