"""SVG icons from assets/icons (crisp at any device pixel ratio)."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from rnn_studio import asset_path

ASSETS = asset_path()
ICONS = ASSETS / "icons"
EXAMPLES = ASSETS / "examples"

CATEGORY_ICON = {
    "Input": "input",
    "Recurrent": "recurrent",
    "Convolution": "convolution",
    "Dense & activations": "dense",
    "Merge": "merge",
    "Regularize": "regularize",
    "Pooling & attention": "pooling",
}


@cache
def icon(name: str) -> QIcon:
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def category_icon(category: str) -> QIcon:
    return icon(CATEGORY_ICON.get(category, "block"))


def category_icon_path(category: str) -> str:
    return str(ICONS / f"{CATEGORY_ICON.get(category, 'block')}.svg")


def app_icon() -> QIcon:
    return icon("app")
