"""Imported into each uWSGI worker by a chain-reload test (``UWSGI_IMPORT``).

The worker waits ``SLOW_START_SECONDS`` before it goes on to load the app, as a worker
loading a large model would, so that a chain reload is sure to be running for that long.
Nothing in ``src/`` knows about it.
"""

import os
import time

time.sleep(float(os.environ.get("SLOW_START_SECONDS", "0")))
