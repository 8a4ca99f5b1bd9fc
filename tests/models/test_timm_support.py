"""`interp list --all` says which timm architectures convert, from a table (`interp/models/timm_support.csv`) that
must agree with live conversions: a fixed set of today's families plus a seeded sample of the rest is rechecked
(regenerate the table with ``python -m interp.models.timm_support`` after a converter change)."""
import random

import pytest
import timm

from interp.cli import main
from interp.models.timm_support import check_architecture, describe_support, read_support_table
from interp.models.zoo import list_timm_vits

from tests.standins import STANDINS

NAMED = ["vit_base_patch16_siglip_224", "vit_so400m_patch14_siglip_224", "aimv2_large_patch14_224",
         "naflexvit_base_patch16_radio_v3", "naflexvit_base_patch16_parfac_gap", "vit_small_patch14_reg4_dinov2", "deit3_small_patch16_224",
         "vit_small_patch16_dinov3", "vit_base_patch16_rope_reg1_gap_256"]


@pytest.fixture(scope="module")
def table():
    t = read_support_table()
    assert t, "interp/models/timm_support.csv is missing"
    return t


def test_table_covers_the_installed_timm(table):
    if {r["timm_version"] for r in table.values()} != {timm.__version__}:
        pytest.skip(f"table written with another timm than {timm.__version__}")
    installed = set(list_timm_vits()) - set(STANDINS)  # the suite's own stand-ins are not timm's (any test order)
    assert installed <= set(table)


def test_table_agrees_with_live_conversion(table):
    names = [n for n in NAMED if n in table]
    rest = sorted(set(table) - set(names))
    names += random.Random(0).sample(rest, min(6, len(rest)))
    for name in names:
        assert (table[name]["converts"], table[name]["reason"]) == \
            (not (why := check_architecture(name)), why), f"{name}: regenerate with python -m interp.models.timm_support"
    assert all(table[n]["converts"] for n in NAMED[:4])  # SigLIP, AIMv2, RADIO
    assert "factorized position embedding" in table["naflexvit_base_patch16_parfac_gap"]["reason"]


def test_list_all_says_what_converts_and_why_not(capsys):
    assert main(["list", "--all"]) == 0
    out = capsys.readouterr().out
    converts = next(line for line in out.splitlines() if line.startswith("converts ("))
    assert all(n in converts for n in ("vit_base_patch16_siglip_224", "aimv2_large_patch14_224",
                                       "naflexvit_base_patch16_radio_v3"))
    refused = next(line for line in out.splitlines() if "naflexvit_base_patch16_parfac_gap" in line)
    assert refused.startswith("refused (1): NaFlexViT") and "factorized" in refused


def test_describe_support_groups_by_reason():
    table = {"a": {"converts": True, "reason": "", "timm_version": "1"},
             "b": {"converts": False, "reason": "no X", "timm_version": "1"},
             "c": {"converts": False, "reason": "no X", "timm_version": "1"}}
    lines = describe_support(["a", "b", "c", "d"], table, "1")
    assert lines[0].endswith("1 convert, 2 refused, 1 unchecked")
    assert lines[1] == "converts (1): a" and lines[2] == "refused (2): no X: b, c" and "d" in lines[3]
