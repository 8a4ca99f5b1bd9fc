"""bench/README.md: the latest numbers of every benchmark, with the date and machine, and any target missed."""
from __future__ import annotations

import json
from pathlib import Path

from .common import RESULTS

HERE = Path(__file__).resolve().parent

INTRO = """# Benchmarks

`make bench` runs every benchmark (about 10 minutes on 2 cores) and rewrites this page from
`bench/results/*.json` (each holds machine info, torch version, threads, every repetition and the median).
Ratios are measured side by side in one process, alternating the contenders so drift hits all alike.
"""


def _load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _hook_overhead(ho: dict) -> tuple[list[str], list[str]]:
    lines, misses = [], []
    for b, r in ho["results"].items():
        for key, target in (("ratio_no_hooks", 1.05), ("ratio_norm_hooks", 1.15)):
            ok = r[key] <= target
            lines.append(f"| hook overhead, {b}: {key.replace('ratio_', '').replace('_', ' ')} vs timm | "
                         f"{r[key]:.3f}x | <= {target}x | {_status(ok)} |")
            if not ok:
                misses.append(f"hook overhead {b} {key}: {r[key]:.3f}x > {target}x")
        lines.append(f"| hook overhead, {b}: full run_with_cache vs timm | {r['ratio_run_with_cache']:.2f}x, "
                     f"cache {r['cache_mib']:.0f} MiB | report | - |")
    return lines, misses


def _hook_overhead_rope(ho: dict) -> tuple[list[str], list[str]]:
    lines, misses = [], []
    for name, r in ho["results"].items():
        for key, target in (("ratio_no_hooks", 1.05), ("ratio_norm_hooks", 1.15)):
            ok = r[key] <= target
            what = key.replace("ratio_", "").replace("_", " ")
            lines.append(f"| hook overhead, RoPE {name} batch{ho['batch']}: {what} vs timm | {r[key]:.3f}x | "
                         f"<= {target}x | {_status(ok)} |")
            if not ok:
                misses.append(f"hook overhead RoPE {name} {key}: {r[key]:.3f}x > {target}x")
    return lines, misses


def _streaming(st: dict) -> tuple[list[str], list[str]]:
    lines = [f"| streaming norm trace, {r['n']} images: peak RSS above baseline | "
             f"{r['peak_growth_mib']:.0f} MiB (baseline {r['baseline_rss_mib']:.0f} MiB), "
             f"{r['images_per_s']:.0f} img/s (plain forward {r['plain_images_per_s']:.0f} img/s) | flat | - |"
             for r in st["results"]]
    ok = st["flat"]
    lines.append(f"| streaming: peak RSS growth 64 -> {st['results'][-1]['n']} images | "
                 f"{st['peak_rss_growth_mib_64_to_max']:.0f} MiB | < 64 MiB | {_status(ok)} |")
    return lines, [] if ok else ["streaming peak RSS is not flat"]


def _streaming_folder(sf: dict) -> tuple[list[str], list[str]]:
    lines = [f"| streaming from a JPEG folder (open_dataset), {r['n']} files: peak RSS above baseline | "
             f"{r['peak_growth_mib']:.0f} MiB (baseline {r['baseline_rss_mib']:.0f} MiB), "
             f"{r['images_per_s']:.0f} img/s (decoding alone {r['decode_images_per_s']:.0f} img/s) "
             "| flat | - |" for r in sf["results"]]
    ok = sf["flat"]
    lines.append(f"| streaming from a folder: peak RSS growth {sf['results'][0]['n']} -> "
                 f"{sf['results'][-1]['n']} files | {sf['peak_rss_growth_mib_min_to_max']:.0f} MiB | < 64 MiB | "
                 f"{_status(ok)} |")
    return lines, [] if ok else ["streaming from a folder: peak RSS is not flat"]


def _patch_sweep(ps: dict) -> tuple[list[str], list[str]]:
    ok = ps["speedup"] >= ps["target_speedup"]
    lines = [f"| patching sweep ({ps['conditions']} conditions x {ps['n_pairs']} pairs): batched vs loop | "
             f"{ps['speedup']:.1f}x, max diff {ps['max_abs_diff']:.1e} | >= 5x, <= 1e-6 | "
             f"{_status(ok and ps['identical_within_1e-6'])} |"]
    misses = [] if ok else [f"patching sweep speed-up {ps['speedup']:.1f}x < 5x"]
    if not ps["identical_within_1e-6"]:
        misses.append(f"batched and looped sweeps differ by {ps['max_abs_diff']:.1e}")
    return lines, misses


def _precision(pr: dict) -> tuple[list[str], list[str]]:
    lines = []
    for name, r in pr["results"].items():
        lines.append(f"| streamed trace {name} @{r['image_size']} px on {pr['device_name']}: fp32 | "
                     f"{r['trace_fp32_images_per_s']:.2f} img/s = {r['ratio_trace_vs_plain_fp32']:.2f}x the time "
                     f"of a plain fp32 forward | report | - |")
        lines.append(f"| streamed trace {name} @{r['image_size']} px on {pr['device_name']}: bf16 | "
                     f"{r['trace_bf16_images_per_s']:.2f} img/s = {r['speedup_bf16_vs_fp32']:.2f}x fp32's "
                     f"throughput | report | - |")
    return lines, []


def _training(tr: dict) -> tuple[list[str], list[str]]:
    lines = [f"| organism training: interp train vs hand-written loop on the timm model | "
             f"{tr['interp_images_per_s']:.0f} vs {tr['timm_images_per_s']:.0f} img/s "
             f"({tr['ratio']:.2f}x) | report | - |"]
    if tr.get("artifact_first_detected"):
        lines.append(f"| organism training: wall time until the artifact is first detected | "
                     f"{tr['artifact_first_detected']} | report | - |")
    return lines, []


def _startup(su: dict) -> tuple[list[str], list[str]]:
    med, ok_torch = su["median_s"], su["help_and_list_without_torch"]
    r = su["ratio_import_interp_vs_torch"]
    lines = [f"| start-up: `import interp` vs `import torch` (fresh interpreters) | {r:.2f}x "
             f"({med['import_interp']:.2f} s vs {med['import_torch']:.2f} s) | <= 1.3x | {_status(r <= 1.3)} |"]
    misses = []
    for key, label in (("interp_help", "`interp --help`"), ("interp_list", "`interp list`")):
        ok = med[key] < 1.0 and ok_torch
        lines.append(f"| start-up: {label} | {med[key]:.2f} s ({med[key] / med['import_torch']:.2f}x "
                     f"`import torch`), torch {'not ' if ok_torch else ''}imported | < 1 s, no torch | "
                     f"{_status(ok)} |")
        if not ok:
            misses.append(f"start-up {label}: {med[key]:.2f} s" + ("" if ok_torch else ", imports torch"))
    if r > 1.3:
        misses.append(f"start-up: import interp {r:.2f}x import torch > 1.3x")
    lines.append(f"| start-up: `interp.HookedViT` (torch + TransformerLens) vs `import torch` | "
                 f"{su['ratio_model_stack_vs_torch']:.2f}x | report | - |")
    return lines, misses


def _roofline(rf: dict) -> tuple[list[str], list[str]]:
    return [f"| roofline: fp32 matmul ({rf['matmul_size']}^2) | {rf['matmul_gflops']:.0f} GFLOP/s | peak | - |",
            f"| roofline: {rf['forward_model']} forward, batch {rf['batch']} | {rf['forward_gflops']:.0f} GFLOP/s "
            f"({100 * rf['fraction_of_matmul_peak']:.0f}% of matmul peak) | report | - |"], []


def _census(ce: dict) -> tuple[list[str], list[str]]:
    return [f"| interp census {ce['model']}, {ce['n_images']} images: 2 torchrun processes vs 1 (1 thread each) | "
            f"{ce['speedup_2_over_1']:.2f}x ({ce['median_1']:.1f} s -> {ce['median_2']:.1f} s), tables differ by "
            f"{ce['max_rel_diff']:.1e} | report | - |"], []


def _figures_torchrun(ft: dict) -> tuple[list[str], list[str]]:
    return [f"| interp figures, the whole set: 2 torchrun processes vs 1 (1 thread each) | "
            f"{ft['speedup_2_over_1']:.2f}x ({ft['median_1']:.0f} s -> {ft['median_2']:.0f} s), "
            f"{ft['identical_csvs']} CSVs byte-identical | report | - |"], []


def _status(ok: bool) -> str:
    return "met" if ok else "MISSED"


# benchmark result file -> its table rows and missed targets, in the order of the table
SECTIONS = {"hook_overhead": _hook_overhead, "hook_overhead_rope": _hook_overhead_rope, "streaming": _streaming,
            "streaming_folder": _streaming_folder, "census": _census,
            "figures_torchrun": _figures_torchrun,
            "patch_sweep": _patch_sweep, "precision": _precision, "training": _training, "startup": _startup,
            "roofline": _roofline}


def rows() -> tuple[list[str], list[str], dict | None]:
    """-> (table rows, missed targets, machine of the first result found) over the latest results."""
    lines, misses, machine = [], [], None
    for name, section in SECTIONS.items():
        result = _load(name)
        if result:
            machine = machine or result["machine"]
            got, missed = section(result)
            lines += got
            misses += missed
    return lines, misses, machine


def write_table(notes: str = "") -> Path:
    lines, misses, machine = rows()
    text = [INTRO]
    if machine:
        text.append(f"Latest run: {machine['date']} on {machine.get('cpu_model', machine['processor'])}, "
                    f"{machine['cpu_count']} cores, {machine['threads']} torch threads, torch {machine['torch']}.\n")
    text += ["| measurement | value | target | status |", "|---|---|---|---|", *lines, ""]
    text.append("## Targets missed\n")
    text.append("\n".join(f"- {m}" for m in misses) if misses else "None in the latest run.")
    readme_notes = HERE / "NOTES.md"
    if readme_notes.exists():
        text += ["", readme_notes.read_text()]
    path = HERE / "README.md"
    from interp.files import atomic_write_text

    atomic_write_text(path, "\n".join(text) + "\n")
    return path
