"""The HTTP layer: a Falcon WSGI application serving one model from the registry."""
