import sys

from reelsight.cli import main

sys.exit(main())
