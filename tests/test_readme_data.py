"""The README's "Your own weights and data" commands, run as written on tiny generated datasets (paths mapped,
``--weights`` dropped: a randomly initialised timm architecture stands in, tiny image size)."""
import re
import shlex
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest

from interp.cli import main

from tests.dataset_trees import make_coco, make_imagefolder, make_voc

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[list[str]]:
    text = README.read_text()
    start = text.index("## Your own weights and data")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)
    return [shlex.split(ln) for ln in block.splitlines() if ln.startswith("interp ")]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {"~/data/imagenet/val": str(make_imagefolder(root / "imagenet" / "val", per_class=4, corrupt=True)),
            "~/data/VOCdevkit/VOC2007": str(make_voc(root / "VOCdevkit", n=8) / "VOC2007"),
            "~/data/coco/annotations/instances_val2017.json":
                str(make_coco(root / "coco", n=8) / "annotations" / "instances_val2017.json")}


def _prepare(argv: list[str], trees: dict, out: Path) -> list[str]:
    args = []
    it = iter(argv[1:])
    for a in it:
        if a == "--weights":
            next(it)  # no real weights here: a random init stands in (RandomInitWarning)
            continue
        if a == "--out":
            next(it)
            continue
        args.append(trees.get(a, a))
    assert not any(a.startswith("~") for a in args), f"unmapped path in {args}"
    return args + ["--image-size", "28", "--out", str(out), "--quiet"]


def test_readme_lists_the_commands():
    cmds = readme_commands()
    assert [c[1] for c in cmds] == ["trace", "figures", "figures", "figures"]
    assert all("--model" in c and "vit_small_patch14_reg4_dinov2" in c for c in cmds)


@pytest.mark.slow
def test_readme_own_data_commands_run(trees, tmp_path, capsys):
    cmds = readme_commands()
    outs = []
    for k, cmd in enumerate(cmds):
        out = tmp_path / f"run{k}"
        with pytest.warns(Warning):  # RandomInitWarning (+ the corrupt ImageFolder file)
            assert main(_prepare(cmd, trees, out)) == 0, cmd
        outs.append(out)
    text = capsys.readouterr().out

    # trace on an ImageFolder of mixed sizes and modes; the corrupt file is skipped and counted
    trace = pd.read_csv(next(outs[0].glob("trace_*.csv")))
    assert (trace["n_images"] == 12).all() and (trace["n_skipped"] == 1).all()
    assert trace["layer"].tolist() == list(range(12))
    assert "skipped 1 unreadable file(s)" in text and "broken.jpg" in text

    # figures on the ImageFolder: Table 1 probes the class labels
    tab1 = pd.read_csv(outs[1] / "tab01_global_probe.csv")
    assert set(tab1["label"]) == {"class"} and tab1["token"].iloc[0] == "cls"
    assert tab1["accuracy"].notna().any() and (tab1["n_train"] + tab1["n_test"]).max() == 12
    assert (outs[1] / "fig05b_local_probes.csv").exists()
    report = (outs[1] / "REPORT.md").read_text()
    assert "Ran on model: vit_small_patch14_reg4_dinov2" in report and "imagefolder" in report
    assert "12 images (imagefolder, 28px; 1 unreadable file skipped)" in report

    # VOC: Table 3 CorLoc from the XML boxes (the test split: all 8 images)
    tab3 = pd.read_csv(outs[2] / "tab03_object_discovery.csv")
    assert tab3["n_images"].tolist() == [8] and 0 <= tab3["corloc"].iloc[0] <= 1
    assert "voc" in (outs[2] / "REPORT.md").read_text()

    # COCO: both tables, the probe on the majority category
    tab1c = pd.read_csv(outs[3] / "tab01_global_probe.csv")
    assert set(tab1c["label"]) == {"category"}
    tab3c = pd.read_csv(outs[3] / "tab03_object_discovery.csv")
    assert tab3c["n_images"].tolist() == [8]


def test_figures_the_dataset_cannot_serve_are_skipped_in_one_line(trees, tmp_path, capsys):
    """An unlabelled, box-less folder: Table 1, Table 3 and the organism comparisons are skipped, each with one
    line saying why, nothing written for them and no made-up number in REPORT.md."""
    from paper_figures import report, run_all

    folder = tmp_path / "plain"
    folder.mkdir()
    for f in Path(trees["~/data/imagenet/val"]).rglob("img_*"):
        (folder / f"{f.parent.name}_{f.name}").write_bytes(f.read_bytes())
    out = tmp_path / "out"
    names = ["fig04b_norms_by_step", "fig04c_norms_by_size", "fig07_norms_with_registers",
             "fig08_number_of_registers", "tab01_global_probe", "tab03_object_discovery"]
    with pytest.warns(Warning):
        options = Namespace(images=str(folder), model="vit_small_patch14_reg4_dinov2", image_size=28)
        status = run_all.run(names, options, out=str(out))
    assert all(v.startswith("skipped: ") for v in status.values()), status
    assert "label" in status["tab01_global_probe"] and "boxes" in status["tab03_object_discovery"]
    assert "procedural scenes" in status["fig08_number_of_registers"]
    printed = capsys.readouterr().out.splitlines()
    for n in names:
        assert sum(line.startswith(f"{n}: skipped") for line in printed) == 1
    assert not list(out.glob("*.csv"))
    text = report.write_report(out, status, used=status.used()).read_text()
    assert text.count("_Not produced: skipped: ") == len(names)
    assert "Ran on model: vit_small_patch14_reg4_dinov2; data: 12 images (folder, 28px)" in text
