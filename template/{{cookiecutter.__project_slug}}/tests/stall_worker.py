"""Imported into each uWSGI worker by the harakiri test (``UWSGI_IMPORT``): see `stall_model`."""

import stall_model

stall_model.install()
