import sys

from bot.surfaces.cli import main

sys.exit(main())
