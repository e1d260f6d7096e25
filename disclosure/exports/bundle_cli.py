"""`python -m disclosure.exports.bundle_cli`: the old name of the stand-alone verifier, for scripts that run it.

The command is disclosure_proofs.bundle_cli (the `disclosure-bundle` console script); this module only hands
over to it, and importing it loads neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

import sys

from disclosure_proofs.bundle_cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
