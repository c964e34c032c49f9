"""`python -m bot.cli …` runs the `moodbot` command."""

import sys

from bot.cli.main import main

sys.exit(main())
