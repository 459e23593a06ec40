"""The canvas, along Orange's canvas lines: one module per role.

- items.py: `BlockItem`, `PortItem`, `LinkItem`, `WireDraft` and their painting helpers
- scene.py: `DesignScene`, which follows the model through the bridge and reports gestures as signals
  (`linkRequested`, `linkRejected`, `movesFinished`, `blockDoubleClicked`, `wireHint`)
- interactions.py: gestures as objects; `NewLinkInteraction` is the wire drag from a port
- view.py: `DesignView` (zoom, fit, pan, grid, hints and toasts, palette drops)

Every name that `gui.canvas` offered as one module is still importable from here.
"""

from ..layout import BLOCK_H, BLOCK_W
from .interactions import NewLinkInteraction, UserInteraction
from .items import (
    GRID,
    HEADER_H,
    PORT_R,
    RADIUS,
    BlockItem,
    LinkItem,
    PortItem,
    WireDraft,
    block_summary,
    pill_rect,
    snap_to_grid,
)
from .scene import DesignScene
from .view import MIME_BLOCK, DesignView

__all__ = [
    "BLOCK_H",
    "BLOCK_W",
    "GRID",
    "HEADER_H",
    "MIME_BLOCK",
    "PORT_R",
    "RADIUS",
    "BlockItem",
    "DesignScene",
    "DesignView",
    "LinkItem",
    "NewLinkInteraction",
    "PortItem",
    "UserInteraction",
    "WireDraft",
    "pill_rect",
    "snap_to_grid",
    "block_summary",
]
