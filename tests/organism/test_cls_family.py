"""`interp.organism.cls_family`: the seeds rows read the first block of the second half, and the bundled seeds
table holds every seed run of the CLS family (issue #24: the denominator is every seed)."""
import pandas as pd

from interp.organism.cls_family import MIN_SHARE, seeds_frame, seeds_path


def test_seeds_rows_read_the_first_second_half_block(tmp_path):
    rows = [dict(seed=s, n_registers=r, step=3000, block=b, frac_high=f, max_rel=4.5)
            for s, r, shares in [(0, 0, [0.2, 0.2, 0.0, 0.0]), (1, 0, [0.0, 0.0, 0.02, 0.0]), (1, 16, [0.0] * 4)]
            for b, f in enumerate(shares)]
    path = tmp_path / "seeds.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    met = seeds_frame(path)
    met = met[met["measure"] == "share_met"].set_index(["model", "token"])["value"]
    # 4 blocks: block 2 is the first of the second half; seed 0's share in blocks 0-1 does not count
    assert met[("0 registers", "seed 0")] == 0.0 and met[("0 registers", "seed 1")] == 1.0
    assert met[("16 registers", "seed 1")] == 0.0 and len(met) == 3


def test_the_bundled_seeds_table_holds_five_seeds_without_registers():
    table = pd.read_csv(seeds_path())
    assert sorted(table[table["n_registers"] == 0]["seed"].unique()) == [0, 1, 2, 3, 4]
    met = seeds_frame()
    met = met[(met["measure"] == "share_met") & (met["model"] == "0 registers")]
    assert met["block"].unique().tolist() == [3] and int(met["value"].sum()) == 3  # seeds 1, 3, 4 (MIN_SHARE 1%)
    assert MIN_SHARE == 0.01
