"""A machine-learning model and the HTTP service that serves it.

Two layers: ``model`` (training, the artifact registry, prediction) knows nothing
about HTTP; ``api`` (the Falcon application) serves whatever model the registry holds.
"""
