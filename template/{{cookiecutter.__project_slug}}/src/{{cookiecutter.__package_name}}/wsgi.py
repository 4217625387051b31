"""The WSGI entry point for uWSGI (``module = <package>.wsgi:application``).

uwsgi.ini sets some variables with ``env =`` lines, PROMETHEUS_MULTIPROC_DIR among
them. uWSGI puts them in the C library's environment; under pyuwsgi, Python started
before uWSGI read them, so ``os.environ`` lacks them until they are copied in here.
"""

from __future__ import annotations

import os

import falcon

from .settings import Settings, process_environment


def _create_application() -> falcon.App:
    environment = process_environment()
    os.environ.update(
        (name, value) for name, value in environment.items() if os.environ.get(name) != value
    )
    # Imported only now: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when imported.
    from .api.app import create_app

    return create_app(Settings.from_env(os.environ))


application = _create_application()
