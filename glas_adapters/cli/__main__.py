"""``python -m glas_adapters.cli``: the ``glas`` command."""

import sys

from glas_adapters.cli.command import main

sys.exit(main())
