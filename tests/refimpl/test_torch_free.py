"""refimpl never imports torch: checked by importing it in a fresh interpreter and by parsing
every source file.

Models: nothing upstream; the project rule "refimpl must NEVER import torch"
(docs/architecture.md, pyproject.toml: torch is never a runtime dependency of refimpl).
Spec: none (a project rule, not an upstream behaviour).

Simplifications:
1. The source check parses with ``ast`` and looks at ``import``/``from ... import`` statements and
   at calls of ``importlib.import_module`` / ``__import__`` with a literal module name; a name
   built at run time is the subprocess check's job.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFIMPL = ROOT / "refimpl"

# Imports every module of the package, then reports whether torch (or any torch.* module) came.
PROBE = """
import pkgutil, sys
import refimpl
for info in pkgutil.walk_packages(refimpl.__path__, "refimpl."):
    if info.name != "refimpl.__main__":
        __import__(info.name)
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def _is_torch(name: str | None) -> bool:
    return name is not None and (name == "torch" or name.startswith("torch."))


def torch_imports(path: Path) -> list[str]:
    """``file:line: statement`` for each import of torch in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str | None] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [first.value if isinstance(first.value, str) else None]
        if any(_is_torch(name) for name in names):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_importing_every_refimpl_module_leaves_torch_out():
    env = {k: v for k, v in os.environ.items() if k not in ("REFIMPL_BACKEND",)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, f"expected every module to import, came\n{result.stderr}"
    came = result.stdout.strip().splitlines()[-1]
    assert came == "[]", f"expected no torch module in sys.modules, came {came}"


def test_no_refimpl_source_imports_torch():
    files = sorted(REFIMPL.rglob("*.py"))
    assert len(files) > 10, f"expected the refimpl sources under {REFIMPL}, found {len(files)}"
    found = [line for path in files for line in torch_imports(path)]
    assert found == [], "expected no torch import in refimpl/, found:\n" + "\n".join(found)


def test_the_source_check_finds_each_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport torch\nimport torch.fx as fx\nfrom torch import nn\n"
        "from torch._ops import OpOverload\nimport importlib\nimportlib.import_module('torch')\n"
        "__import__('torch.fx')\nfrom .torch import x\nimport torchvision\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = torch_imports(sample)
    finally:
        ROOT = saved
    lines = [int(line.split(":")[1]) for line in found]
    assert lines == [2, 3, 4, 5, 7, 8], f"expected lines 2-5, 7, 8 flagged, came {found}"
