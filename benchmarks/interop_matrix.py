"""The NIR interop matrix: every peer × model × direction, measured; writes ``docs/interop.md`` and the
findings.

    python benchmarks/interop_matrix.py [--samples 1000] [--T 8] [--peers ...] [--models ...] [--neurons
    ...] python benchmarks/interop_matrix.py --versions "nir==1.0.6" --versions
    "nir==1.0.7,snntorch==0.9.4"

Directions (``snndeploy.verify.interop``): ``export`` — tiny models (LIF hard/soft reset, KLIF, CLIF
folded; MLP, conv + pool, residual) exported with each peer's profile (``snndeploy export --for PEER``) and
imported with the peer's own code, every hooked layer and the output compared with the folded model on
``--samples`` seeded random inputs; ``write`` — each peer's own network and NIR writer, read by snndeploy
with the writer's corrections (``snndeploy check-nir --writer PEER``) and compared with the peer's own
output spikes.

Outputs: ``docs/interop.md`` (tables with the agreement and the reason for every cell that is not
    identical,
the exact versions) and ``snndeploy/verify/peers/findings.json`` (what ``verify`` prints as known
differences). With ``--versions`` (repeatable; comma-separated pins), each configuration runs in its own
venv under ``--venv-dir``: the pinned packages installed with ``--no-deps`` over this venv's packages (a
``.pth`` file makes torch, numpy and snndeploy visible; the venv's own site-packages come first), the
script re-run there with ``--inner``, and every configuration's cells and probed versions go into the doc.
Nothing is written until every configuration has run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import sysconfig
import time
import warnings
from collections import defaultdict
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEERS = ("norse", "spikingjelly", "snntorch", "sinabs", "rockpool", "spyx")
PACKAGES = ("nir", "nirtorch", "norse", "spikingjelly", "snntorch", "sinabs", "rockpool", "torch", "numpy")


def installed_versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def run_cells(args: argparse.Namespace) -> list[dict]:
    import logging

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    from snndeploy.verify.interop import export_cell, write_cell

    cells = []
    for peer in args.peers:
        for model in args.models:
            for neuron in args.neurons:
                t0 = time.time()
                cell = export_cell(peer, model, neuron, samples=args.samples, T=args.T, seed=args.seed)
                cells.append(cell.to_dict())
                print(
                    f"export {peer:12s} {model:8s} {neuron:8s} {cell.status:18s} {cell.agreement} "
                    f"({time.time() - t0:.1f} s)",
                    flush=True,
                )
        if peer != "spyx":
            for corrected in (True, False):
                cell = write_cell(peer, samples=args.samples, T=16, seed=args.seed, corrected=corrected)
                d = cell.to_dict() | {"corrected": corrected}
                cells.append(d)
                print(f"write  {peer:12s} corrected={corrected} {cell.status} {cell.agreement}", flush=True)
            if peer == "sinabs":
                cell = write_cell(peer, samples=args.samples, T=16, seed=args.seed, multi_spike=True)
                cells.append(cell.to_dict() | {"corrected": True, "model": "mlp (MultiSpike)"})
    return cells


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def run_in_venv(pins: list[str], args: argparse.Namespace) -> dict:
    """Build a venv for ``pins`` (once), run this script there with ``--inner``; return its JSON result."""
    name = "-".join(p.replace("==", "") for p in pins)
    venv = Path(args.venv_dir) / name
    python = _venv_python(venv)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", *pins], check=True)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        # this venv's packages (torch, numpy, snndeploy's deps) after the pinned ones
        (Path(site) / "zz_snndeploy_base.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{ROOT}\n")
    out = Path(args.venv_dir) / f"{name}.json"
    cmd = [
        str(python),
        str(Path(__file__).resolve()),
        "--inner",
        "--json",
        str(out),
        "--samples",
        str(args.samples),
        "--T",
        str(args.T),
        "--seed",
        str(args.seed),
        "--peers",
        *args.peers,
        "--models",
        *args.models,
        "--neurons",
        *args.neurons,
    ]
    proc = subprocess.run(cmd, text=True)
    if proc.returncode != 0 or not out.exists():
        return {"pins": pins, "versions": {}, "cells": [], "error": f"exit {proc.returncode}"}
    return json.loads(out.read_text()) | {"pins": pins}


def _fmt(cell: dict) -> str:
    a = cell.get("agreement")
    pct = "—" if a is None else f"{100 * a:.2f}%"
    mark = {"identical": "✓", "differs": "✗", "not representable": "≈", "fails": "✗", "not run": "—"}
    extra = (
        f", peer semantics {100 * cell['vs_emulation']:.1f}%" if cell.get("vs_emulation") is not None else ""
    )
    return f"{mark.get(cell['status'], '?')} {cell['status']} {pct}{extra}"


def _reasons(cells: list[dict]) -> tuple[dict[str, int], list[str]]:
    index: dict[str, int] = {}
    for c in cells:
        if c["status"] != "identical" and c.get("reason"):
            index.setdefault(c["reason"], len(index) + 1)
    return index, [f"{i}. {r}" for r, i in index.items()]


def _export_table(cells: list[dict], models: list[str], neurons: list[str]) -> list[str]:
    cols = [f"{m} / {n}" for m in models for n in neurons]
    exp = [c for c in cells if c["direction"] == "export"]
    index, reasons = _reasons(exp)
    lines = ["| peer | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    by = {(c["peer"], c["model"], c["neuron"]): c for c in exp}
    for peer in dict.fromkeys(c["peer"] for c in exp):
        row = []
        for m in models:
            for n in neurons:
                c = by.get((peer, m, n))
                if c is None:
                    row.append("")
                    continue
                ref = f" [{index[c['reason']]}]" if c["status"] != "identical" and c.get("reason") else ""
                row.append(_fmt(c) + ref)
        lines.append(f"| {peer} | " + " | ".join(row) + " |")
    return lines + ["", "Reasons:", ""] + reasons


def _write_table(cells: list[dict]) -> list[str]:
    rows = [c for c in cells if c["direction"] == "write"]
    lines = [
        "| writer | network | read by snndeploy | agreement with the writer's own output | notes |",
        "|---|---|---|---|---|",
    ]
    for c in rows:
        how = "check-nir --writer (corrected)" if c.get("corrected") else "as written (no corrections)"
        a = c.get("agreement")
        lines.append(
            f"| {c['peer']} ({c.get('version', '')}) | {c['model']} | {how} | "
            f"{'—' if a is None else f'{100 * a:.3f}%'} ({c['status']}) | {c.get('reason', '')} |"
        )
    return lines


def findings_of(config: dict) -> dict:
    """What ``verify`` prints: per peer, one line per group of cells with the same status and reason."""
    peers: dict[str, list[str]] = defaultdict(list)
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for c in config["cells"]:
        a = c.get("agreement")
        direction = c["direction"] if c["direction"] == "export" else (
            "write" if c.get("corrected") else "write-as-is")
        key = (c["peer"], direction, c["status"], c.get("reason", "") if c["status"] != "identical" else "")
        where = c["model"] if c["direction"] == "write" else f"{c['model']}/{c['neuron']}"
        groups[key].append(where + (f" {100 * a:.2f}%" if a is not None and a < 1 else ""))
    for (peer, direction, status, reason), where in groups.items():
        what = {"export": f"snndeploy export --for {peer}",
                "write": f"{peer}'s own writer → snndeploy check-nir --writer {peer}",
                "write-as-is": f"{peer}'s own writer → nirsim with no corrections"}[direction]
        peers[peer].append(f"{what}: {status} on {', '.join(where)}" + (f" — {reason}" if reason else ""))
    v = config["versions"]
    versions = {
        p: f"{p} {v.get(p)}, nir {v.get('nir')}, nirtorch {v.get('nirtorch')}" for p in PEERS if p in v
    }
    return {
        "generated_by": "benchmarks/interop_matrix.py",
        "date": config["date"],
        "samples": config["samples"],
        "versions": versions,
        "probed": v,
        "peers": dict(peers),
        "cells": config["cells"],
    }


def to_markdown(configs: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# NIR interop matrix (measured)",
        "",
        f"Generated by `python benchmarks/interop_matrix.py` on {configs[0]['date']} ({args.samples} seeded "
        f"random "
        f"inputs per cell, uniform in [0, 2), T = {args.T} for exports, T = 16 for peer-written files). Do "
        f"not edit "
        "by hand: rerun the script.",
        "",
        "Cell legend: ✓ identical = 100% of spikes in every hooked layer and the output; ≈ not representable "
        "= the "
        "peer's importer cannot run our model's semantics, so the profile approximates (the warning names "
        "why, "
        "the agreement with the folded model is measured, and for sinabs/rockpool *peer semantics* is the "
        "agreement with the profile's emulation of the peer's neuron, 100% meaning the file is exact as that "
        "peer's dialect); ✗ fails/differs = the importer refused or the spikes differ (reason given).",
        "",
    ]
    for cfg in configs:
        v = cfg["versions"]
        pins = cfg.get("pins") or ["the project venv"]
        lines += [
            f"## Configuration: {', '.join(pins)} ({cfg.get('date', '')}, {cfg.get('samples', '')} inputs "
            "per cell)",
            "",
            "Versions probed: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            "",
        ]
        if cfg.get("error"):
            lines += [f"Did not run: {cfg['error']}", ""]
            continue
        lines += [
            "### snndeploy → peer (`snndeploy export --for PEER`, imported with the peer's own code)",
            "",
        ]
        exp = [c for c in cfg["cells"] if c["direction"] == "export"]
        models = list(dict.fromkeys(c["model"] for c in exp))
        neurons = list(dict.fromkeys(c["neuron"] for c in exp))
        lines += _export_table(cfg["cells"], models, neurons)
        lines += [
            "",
            "### peer → snndeploy (the peer's own writer, `snndeploy check-nir FILE --writer PEER`)",
            "",
        ]
        lines += _write_table(cfg["cells"])
        lines.append("")
    lines += [
        "## Not run here",
        "",
        "- spyx (JAX) has an export profile (`--for spyx`, from spyx 1.0.0's source: spikes from the "
        "previous "
        "step's membrane, so every layer one step late) but no adapter: JAX needs its own venv "
        "(`../shared/VENDOR_SIMS.md`); its cells say `not run`.",
        "- Only the configurations above ran. Another one: `python benchmarks/interop_matrix.py --skip-main "
        "--versions \"nir==1.0.7,snntorch==0.9.4\"` (its own venv; pinned packages installed with --no-deps "
        "over this venv's torch and numpy, so a release that needs other versions of those fails there, and "
        "says so).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--T", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", nargs="+", default=list(PEERS))
    parser.add_argument("--models", nargs="+", default=["mlp", "conv", "residual"])
    parser.add_argument("--neurons", nargs="+", default=["lif_hard", "lif_soft", "klif", "clif"])
    parser.add_argument(
        "--versions",
        action="append",
        default=[],
        help="comma-separated pins for one extra configuration (repeatable)",
    )
    parser.add_argument("--venv-dir", default=str(Path.home() / ".cache" / "snndeploy" / "interop"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "interop.md")
    parser.add_argument(
        "--findings", type=Path, default=ROOT / "snndeploy" / "verify" / "peers" / "findings.json"
    )
    parser.add_argument(
        "--skip-main",
        action="store_true",
        help="do not rerun the project venv's configuration: reuse the one recorded in --findings",
    )
    parser.add_argument("--json", type=Path, help="(--inner) write the raw cells here")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.inner:
        here = {"date": date, "samples": args.samples, "versions": installed_versions(),
                "cells": run_cells(args)}
        args.json.write_text(json.dumps(here, default=float))
        return 0
    old = json.loads(args.findings.read_text()) if args.findings.exists() else {}
    if args.skip_main:
        if not old.get("cells"):
            parser.error(f"--skip-main: {args.findings} holds no recorded configuration")
        here = {k: old[k] for k in ("date", "samples", "cells")} | {"versions": old.get("probed", {})}
    else:
        here = {"date": date, "samples": args.samples, "versions": installed_versions(),
                "cells": run_cells(args)}
    # other configurations: earlier runs are kept (by their pins) unless rerun now
    extra = {",".join(c["pins"]): c for c in old.get("configurations", [])}
    for pins in args.versions:
        extra[pins] = run_in_venv(pins.split(","), args) | {"date": date, "samples": args.samples}
    configs = [here, *extra.values()]
    from snndeploy.io import atomic_write

    with atomic_write(args.out) as fh:
        fh.write(to_markdown(configs, args))
    with atomic_write(args.findings) as fh:
        json.dump(findings_of(here) | {"configurations": list(extra.values())}, fh, indent=1, default=float)
    print(f"wrote {args.out} and {args.findings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
