"""docs/project-format.md = a hand-written head + the catalog reference generated from engine.design.blocks."""

from pathlib import Path

from .schema import catalog_markdown


def project_format_markdown(docs_dir: Path) -> str:
    return (docs_dir / "project-format.head.md").read_text(encoding="utf-8") + catalog_markdown()
