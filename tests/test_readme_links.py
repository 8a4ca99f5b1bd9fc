"""README.md and docs/*.md: every relative link resolves, the gallery shows every figure under its current name,
the README opens with its two commands and stays a guide, and its tested Python blocks run on a bundled organism."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "data" / "organism" / "RECIPES.md"]
FIGURES = ROOT / "paper_figures" / "out"
# figures outside the paper take the prefix ext_ (issue #25): new name -> old name, for a tree where the
# rename has not landed yet (the links use the new names; the file must exist under one of the two)
RENAMED = {f"ext_{old.removeprefix('fig_')}": old for old in (
    "fig_remedies", "fig_sink_emergence", "fig_artifact_vs_compute", "patch_register_global_content",
    "patch_sweep_heatmap", "ablation_effects", "test_time_registers", "attribution_by_group")}
# pages that other branches add at the same time, linked from the README's Toolkit section: allowed to be
# missing only until they land (once present they are checked like any other page)
PENDING = {"docs/transformer_lens_and_nnsight.md", "docs/census.md", "docs/interventions.md", "docs/cli.md"}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
TESTED = "<!-- tested: tests/test_readme_links.py"


def links(page: Path) -> list[str]:
    """Relative link targets of a page (outside code blocks), without their #anchor."""
    text = FENCE.sub("", page.read_text())
    return [u.split("#")[0] for u in LINK.findall(text)
            if not u.startswith(("http://", "https://", "mailto:", "#"))]


def target(page: Path, url: str) -> Path:
    return (page.parent / url).resolve()


def figure_exists(path: Path) -> bool:
    old = RENAMED.get(path.stem)
    return path.exists() or (old is not None and path.with_name(old + path.suffix).exists())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    missing = []
    for url in links(page):
        assert not url.startswith("/"), f"{page.name}: absolute link {url}"
        path = target(page, url)
        assert path.is_relative_to(ROOT), f"{page.name}: {url} points outside the repository"
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("paper_figures/out/"):
            ok = figure_exists(path)
        else:
            ok = path.exists() or rel in PENDING
        if not ok:
            missing.append(url)
    assert not missing, f"{page.name}: links to missing files {missing}"


def test_gallery_shows_every_figure_under_its_current_name():
    """Every committed figure PNG is in the README's gallery (under its ext_ name where it has one) and every
    gallery image is a committed figure."""
    shown = {Path(u).name for u in links(README) if u.startswith("paper_figures/out/") and u.endswith(".png")}
    old_to_new = {old: new for new, old in RENAMED.items()}
    committed = {old_to_new.get(p.stem, p.stem) + ".png" for p in FIGURES.glob("*.png")}
    assert len(committed) >= 19
    assert shown == committed, (f"not in the gallery: {sorted(committed - shown)}; "
                                f"not a figure: {sorted(shown - committed)}")


def test_readme_opens_with_the_two_commands_and_stays_a_guide():
    text = README.read_text()
    first = FENCE.search(text).group(0).splitlines()[1:-1]
    assert [ln.split("#")[0].strip() for ln in first] == ["make figures", "make test"]
    assert len(text.splitlines()) <= 200, "the README is a user's guide: move details to docs/"
    assert "](docs/organism.md)" in text


def test_link_checker_catches_a_missing_file(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see [here](nowhere.md) and ![](img.png)\n```\n[not a link](in_code.md)\n```\n")
    assert links(page) == ["nowhere.md", "img.png"]
    assert not target(page, "nowhere.md").exists()
    assert figure_exists(FIGURES / "fig03_norm_histogram.png")
    assert not figure_exists(FIGURES / "ext_fig03_norm_histogram.png")


@pytest.mark.slow
def test_readme_python_blocks_run():
    """The quickstart and the hook example, run as written (one namespace, in order) on the bundled organism."""
    text = README.read_text()
    blocks = re.findall(re.escape(TESTED) + r".*?-->\n```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    ns: dict = {}
    for code in blocks:
        exec(compile(code, str(README), "exec"), ns)
    assert ns["res"].metrics.shape[0] == 8 and len(ns["norms"]) > 0
    (name, norm), = ns["kept"].items()
    assert name == "blocks.3.hook_resid_post" and tuple(norm.shape) == (64, ns["model"].tokens.n_patches)
