"""Record the torch schemas of the aten ops the oracle models into `oracle/aten_schemas.json`.

Models: `torch._ops.OpOverload._schema` (its `str()`), torch 2.13.0.
Spec: specs/program.md, PRG-14 (the modelled aten ops).

The file is the torch-observed check of refimpl's op table, not a second list: the op list is
`oracle.behaviors.KNOWN_ATEN_OPS`, derived from `refimpl.aten.OPS`, and
`tests/oracle/test_one_source.py` asserts that refimpl's schema string of every modelled op equals
the one recorded here (so an op added to refimpl's table fails that test until this is rerun,
and a schema refimpl prints differently from torch fails it for good).

Run from the repository root with the pinned torch installed:

    python3 -m oracle.tools.record_aten_schemas          # rewrite oracle/aten_schemas.json
    python3 -m oracle.tools.record_aten_schemas --check  # exit 1 if a schema differs

An op this torch lacks is reported and left out (then the test above fails: refimpl models an
op torch does not have).

Simplifications:
1. Only the schema text is recorded, not the effect registered on the op at import time.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from oracle.behaviors import ATEN_SCHEMAS_PATH, KNOWN_ATEN_OPS


def _overload(name: str):
    """`aten::add.Tensor` -> `torch.ops.aten.add.Tensor`."""
    namespace, rest = name.split("::")
    packet_name, overload = rest.split(".")
    return getattr(getattr(getattr(torch.ops, namespace), packet_name), overload)


def record() -> dict:
    """The document written to `aten_schemas.json`."""
    schemas = {}
    for name in KNOWN_ATEN_OPS:
        try:
            schemas[name] = str(_overload(name)._schema)
        except AttributeError:
            print(f"torch {torch.__version__} has no {name}; left out", file=sys.stderr)
    return {
        "format": "aten-schemas/1",
        "torch_version": torch.__version__,
        "recorded_by": "python3 -m oracle.tools.record_aten_schemas",
        "schemas": schemas,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    options = parser.parse_args(argv)
    document = record()
    text = json.dumps(document, indent=2) + "\n"
    if options.check:
        # The schemas, not the torch version that recorded them: one file serves every build
        # whose schemas are the same (2.13.0, 2.14.1 and 2.15.0).
        current = json.loads(ATEN_SCHEMAS_PATH.read_text(encoding="utf-8"))["schemas"]
        changed = sorted(k for k in current.keys() | document["schemas"].keys()
                         if current.get(k) != document["schemas"].get(k))
        if changed:
            print(f"{ATEN_SCHEMAS_PATH} is out of date for torch {torch.__version__} "
                  f"(schemas of {', '.join(changed)}); rerun without --check", file=sys.stderr)
            return 1
        return 0
    ATEN_SCHEMAS_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text)['schemas'])} schemas to {ATEN_SCHEMAS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
