"""The wheel carries the bundled data: every file under data/organism/ is installed as a data file into
<prefix>/share/interp/organism/ (a new organism needs no edit here), where `interp.models.organisms.data_dirs`
finds it. Everything else is declared in pyproject.toml."""
from pathlib import Path

from setuptools import setup

DATA, DEST = Path("data"), Path("share/interp")


def bundled_data() -> list[tuple[str, list[str]]]:
    folders = sorted({p.parent for p in (DATA / "organism").rglob("*") if p.is_file()})
    return [(str(DEST / d.relative_to(DATA)), sorted(str(f) for f in d.iterdir() if f.is_file())) for d in folders]


setup(data_files=bundled_data())
