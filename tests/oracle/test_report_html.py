"""oracle/report_html.py: the HTML report, escaped, side by side, and rendered by Chromium.

Spec: RPT-24.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from oracle.check import CheckRun
from oracle.compare import PathResult
from oracle.observation import Observation
from oracle.report import to_json
from oracle.report_html import render_html

HOSTILE = "<script>window.hacked=1</script>[/bold]&amp;"


def _report(version: str, statuses: dict[tuple[str, str], str]) -> dict:
    paths = sorted({path for _, path in statuses})
    run = CheckRun(version, "torch-2.13", paths)
    for (program, path), status in statuses.items():
        details = [f"output 0: torch {HOSTILE}"] if status == "diverge" else []
        run.results.append(PathResult(program, path, status, kinds=["values"] if details else [],
                                      details=details))
        log = [("aten::_print", (HOSTILE,), ())]
        run.observations[(program, path)] = tuple(
            Observation(path, side, effect_log=log) for side in ("torch", "refimpl"))
    return to_json(run)


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.spec("RPT-24")
def test_user_strings_are_escaped_and_shown_literally():
    page = render_html([_report("2.13.0", {("p<b>", "eager"): "diverge"})])
    scan = _Scan()
    scan.feed(page)
    assert scan.scripts == 1, f"expected only the page's own script, got {scan.scripts}"
    text = "".join(scan.text)
    assert HOSTILE in text and "p<b>" in text, "expected the strings shown literally"


@pytest.mark.spec("RPT-24")
def test_every_departure_links_to_its_section():
    page = render_html([_report("2.13.0", {("a", "eager"): "diverge", ("a", "fake"): "agree",
                                           ("b", "eager"): "error"})])
    anchors = [line.split('href="#')[1].split('"')[0] for line in page.splitlines()
               if 'href="#' in line]
    assert len(anchors) == 2, f"expected a link per departure, got {anchors}"
    for anchor in anchors:
        assert f'id="{anchor}"' in page, f"expected a section for {anchor}"


@pytest.mark.spec("RPT-24")
def test_builds_side_by_side_mark_the_programs_that_differ():
    old = _report("2.13.0", {("a", "eager"): "agree", ("b", "eager"): "agree"})
    new = _report("2.14.1", {("a", "eager"): "diverge", ("b", "eager"): "agree",
                             ("c", "eager"): "agree"})
    page = render_html([old, new])
    assert page.count('<tr data-program="') == 3, "expected one row per program"
    assert page.count('class="build"') == 2, "expected one column group per build"
    assert '<tr data-program="a" class="differs">' in page, "expected a marked"
    assert '<tr data-program="b">' in page, "expected b unmarked"


@pytest.mark.spec("RPT-24")
@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (Debian package)")
def test_chromium_renders_the_page(tmp_path: Path):
    statuses = {("a", "eager"): "diverge", ("a", "fake"): "agree", ("b", "eager"): "known",
                ("b", "fake"): "agree"}
    page = tmp_path / "report.html"
    page.write_text(render_html([_report("2.13.0", statuses)]), encoding="utf-8")
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'data-ready="yes"' in dom, "expected the page's script to have run"
    assert ">agree=2 diverge=1 known=1<" in dom, (
        f"expected the browser to count the grid's cells, got {dom[dom.find('counted'):][:80]!r}")
    assert dom.count("<script") == 1 and "&lt;script&gt;window.hacked" in dom, (
        "expected the hostile string as text, not as a script")


CATALOG_ONE = Path(__file__).resolve().parents[2] / "oracle" / "catalog" / "01_print_one.json"


@pytest.mark.torch
@pytest.mark.spec("RPT-24")
def test_the_cli_writes_html_and_puts_reports_side_by_side(tmp_path: Path):
    from oracle.cli import main  # noqa: PLC0415 - imports torch when run

    report_json, page = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["check", str(CATALOG_ONE), "--paths", "eager", "--format", "json",
                 "--output", str(report_json)]) == 0
    assert main(["check", str(CATALOG_ONE), "--paths", "eager", "--format", "html",
                 "--output", str(page)]) == 0
    assert '<tr data-program="print_one">' in page.read_text(), "expected the program's row"
    side = tmp_path / "side.html"
    assert main(["report", str(report_json), str(report_json), "--output", str(side)]) == 0
    assert side.read_text().count('class="build"') == 2, "expected two column groups"
    assert oct(side.stat().st_mode & 0o777) != "0o600", "expected ordinary file permissions"
    assert main(["report", str(page)]) == 2, "expected a clear error for a non-JSON report"


@pytest.mark.spec("RPT-24")
def test_concurrent_writers_of_one_output_never_leave_a_torn_file(tmp_path: Path):
    import threading  # noqa: PLC0415

    from oracle.cli import _write_atomically  # noqa: PLC0415

    target = tmp_path / "out.json"
    texts = [str(k) * 200_000 for k in range(8)]
    threads = [threading.Thread(target=_write_atomically, args=(target, t)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_text() in texts, "expected one writer's whole text"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "expected no temporary left"
