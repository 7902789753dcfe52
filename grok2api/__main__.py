"""`python -m grok2api` is the same program as the `grok2api` command."""

import sys

from grok2api.cli import main

if __name__ == "__main__":
    sys.exit(main())
