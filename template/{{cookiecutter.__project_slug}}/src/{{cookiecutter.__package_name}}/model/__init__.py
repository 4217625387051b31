"""The model layer: the model interface, its implementation, training and the registry.

Nothing in this package imports from ``api``, Falcon or pydantic; a test enforces it.
"""
