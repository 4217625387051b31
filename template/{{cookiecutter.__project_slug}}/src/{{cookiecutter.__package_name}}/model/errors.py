"""What can go wrong in the registry: one exception type per kind of refusal.

Every one is a `RegistryError`, whose message names the file and says why.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A registry operation that cannot go ahead; the message says why."""


class VersionExistsError(RegistryError):
    """The version was trained already: artifacts are never overwritten."""


class VersionNotFoundError(RegistryError):
    """No manifest exists for the requested version."""


class ManifestError(RegistryError):
    """A manifest is unreadable, malformed, or describes another model."""


class IntegrityError(RegistryError):
    """An artifact is missing or its SHA-256 differs from its manifest's."""


class UnsafeArtifactError(RegistryError):
    """An artifact whose hash matches but whose content the model's loader refuses."""


class ValidityError(RegistryError):
    """A model's metrics fail its thresholds: it is not registered, or not served."""
