"""``python -m chaincrm.storage.node serve --repo DIR --port N``: the node process."""

from __future__ import annotations

import sys

from chaincrm.storage.node.server import main

sys.exit(main())
