"""Every palette category of the catalog has its own icon file and colour (none falls back to the
generic block look), so a block type added in engine/design/blocks.py under a new category is noticed here."""

from rnn_studio.engine import CATALOG, CATEGORIES
from rnn_studio.gui.icons import CATEGORY_ICON, ICONS
from rnn_studio.gui.theme import CATEGORY_COLORS


def test_every_category_has_an_icon_and_a_colour():
    assert {d.category for d in CATALOG.values()} <= set(CATEGORIES)
    for category in CATEGORIES:
        assert (ICONS / f"{CATEGORY_ICON[category]}.svg").is_file(), category
        assert CATEGORY_COLORS[category].startswith("#"), category
    assert len(set(CATEGORY_COLORS[c] for c in CATEGORIES)) == len(CATEGORIES)  # told apart on the canvas
