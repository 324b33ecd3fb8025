"""``python -m viewer``: same as the ``lumen`` command."""

from viewer.cli import main

raise SystemExit(main())
