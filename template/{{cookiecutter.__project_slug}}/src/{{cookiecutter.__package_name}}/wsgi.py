"""The WSGI entry point for uWSGI (``module = <package>.wsgi:application``)."""

import os

from .api.app import create_app
from .settings import Settings

application = create_app(Settings.from_env(os.environ))
