"""Errors the registry raises; messages name the model version, the problem and the fix."""

from __future__ import annotations

from ..errors import CheckFailed


class RegistryError(CheckFailed):
    """A registry request that cannot be done as asked (unknown version, bad alias, ...)."""


class PromotionRefused(RegistryError):
    """Promotion refused because the version's evaluation did not pass its criteria.

    Attributes:
        failing: the failing gate results (``criterion``, ``metric``, ``op``, ``threshold``, ``value``).
    """

    def __init__(self, message: str, failing: list[dict] | None = None):
        super().__init__(message)
        self.failing = failing or []
