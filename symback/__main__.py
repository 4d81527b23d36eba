"""``python -m symback`` is the ``symback`` command."""
import sys

from .cli import main

sys.exit(main())
