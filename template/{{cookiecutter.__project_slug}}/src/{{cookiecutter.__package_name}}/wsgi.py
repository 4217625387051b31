"""The WSGI entry point for uWSGI (``module = <package>.wsgi:application``).

uwsgi.ini sets some variables with ``env =`` lines, PROMETHEUS_MULTIPROC_DIR among
them. uWSGI puts them in the C library's environment; under pyuwsgi, Python started
before uWSGI read them, so ``os.environ`` lacks them until they are copied in here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .settings import Settings, process_environment

if TYPE_CHECKING:
    from .api.errors import WsgiApp


def _create_application() -> WsgiApp:
    environment = process_environment()
    os.environ.update(
        (name, value) for name, value in environment.items() if os.environ.get(name) != value
    )
    # Imported only now: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when imported.
    from .api.app import create_app
    from .api.errors import reject_malformed

    return reject_malformed(create_app(Settings.from_env(os.environ)))


application = _create_application()
