# SPDX-License-Identifier: GPL-3.0-or-later
import sys

from .cli.commands import main

sys.exit(main())
