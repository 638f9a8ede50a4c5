"""Hypothesis settings for campaigns over the property tests (docs/fuzzing.md).

HypoFuzz fuzzes only tests whose database is the default one. With `ORACLE_FUZZ_DATABASE` set (a
folder or a `redis://host:port/db` URL), that database becomes the default and the property
tests' settings leave it in place (tests/oracle/test_properties.py, `PROPERTY_DATABASE`), so
`hypothesis fuzz` and the bounded runs share their examples with `oracle fuzz --database`.
"""

from __future__ import annotations

import os

from hypothesis import settings

FUZZ_DATABASE = os.environ.get("ORACLE_FUZZ_DATABASE")

if FUZZ_DATABASE:
    from oracle.fuzz import example_database  # noqa: PLC0415 - only for campaigns

    settings.register_profile("oracle-fuzz", database=example_database(FUZZ_DATABASE))
    settings.load_profile("oracle-fuzz")
