"""Record the golden texts of every scenario in `scenarios.py` with the installed torch.

Usage: `python tests/golden/record.py [--out tests/golden/torch-<major.minor>]`

Writes one file per scenario and text kind, `<scenario>.<kind>.txt` (the text plus a final
newline), and `MANIFEST.json` (torch version and git version, Python version, date, per
scenario its kinds, spec clauses and source, and under `switches` the value of every profile
switch that `scenarios.SWITCH_PROBES` observes in this build). Stale `*.txt` files in the output
folder are removed first, so the folder always holds exactly one recording.

Models: nothing upstream; this is the recorder for `tests/golden/` (see its README.md).

Spec: TRC-1 .. TRC-13, DSP-22 .. DSP-24, through the scenarios it runs; EFF-26 (the switches).

Simplifications:
1. The sibling modules are loaded by file path under private names (`_golden_scenarios`,
   `_golden_torch_world`), so that `tests/golden` needs no package and cannot clash with
   another `scenarios` module on `sys.path`.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = "MANIFEST.json"


def load_sibling(stem):
    """Import `tests/golden/<stem>.py` as `_golden_<stem>` (Simplification 1)."""
    name = f"_golden_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


scenarios = load_sibling("scenarios")


def torch_series(version):
    """`"2.13.0+cpu"` -> `"2.13"`."""
    major, minor = version.split("+")[0].split(".")[:2]
    return f"{major}.{minor}"


def golden_dir(version):
    return HERE / f"torch-{torch_series(version)}"


def recorded_builds():
    """`{"torch-<major.minor>": folder}` of every recording here (a folder with a MANIFEST)."""
    return {d.name: d for d in sorted(HERE.glob("torch-*")) if (d / MANIFEST).is_file()}


def read_manifest(folder):
    return json.loads((folder / MANIFEST).read_text())


def file_name(scenario_name, kind):
    return f"{scenario_name}.{kind}.txt"


def record_texts(world, names=None):
    """Run the scenarios in `world`: `{file name: file text}`."""
    files = {}
    for name in names or scenarios.SCENARIOS:
        for kind, text in scenarios.run_scenario(world, name).items():
            files[file_name(name, kind)] = text + "\n"
    return files


def manifest(files, torch_module, switches):
    entries = {}
    for name, sc in scenarios.SCENARIOS.items():
        kinds = sorted(f.split(".")[-2] for f in files if f.startswith(f"{name}."))
        entries[name] = {"kinds": kinds, "specs": list(sc.specs), "source": sc.source}
    return {
        "torch_version": torch_module.__version__,
        "torch_git_version": torch_module.version.git_version,
        "python_version": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scenarios": entries,
        "switches": switches,
    }


def write(out, files, manifest_data):
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.txt"):
        stale.unlink()
    for name, text in files.items():
        (out / name).write_text(text)
    (out / MANIFEST).write_text(json.dumps(manifest_data, indent=2) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output folder (default: torch-<major.minor>)")
    args = parser.parse_args(argv)
    # torch is imported here, not at the top, so that the tests that only read recorded files
    # can import this module without torch.
    import torch

    world = load_sibling("torch_world").TorchWorld()
    files = record_texts(world)
    switches = scenarios.observe_switches(world)
    out = args.out or golden_dir(torch.__version__)
    write(out, files, manifest(files, torch, switches))
    print(f"recorded {len(scenarios.SCENARIOS)} scenarios, {len(files)} files in {out}")


if __name__ == "__main__":
    main()
