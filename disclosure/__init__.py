"""Disclosure: a legal-process disclosure tool for a hosting provider's legal team.

create_app(settings=None) builds the web app (disclosure.app). This package file imports nothing else, so the
standalone `disclosure-bundle` command (disclosure.exports.bundle_cli) loads without Flask or SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Mapping[str, Any] | None = None) -> Flask:
    from disclosure.app import create_app as build

    return build(settings)
