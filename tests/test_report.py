"""`mudjack report`: one self-contained HTML page per patch (and per results file), rendered in
headless Chromium when it is installed (`make test` installs it where it can)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mudjack.cli import main
from mudjack.utils import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def page(patch_args, tmp_path, capsys):
    """A patched tiny encoder with metrics before and after, both gate verdicts, and its
    report."""
    w = tmp_path
    code, _, err = run(capsys, *patch_args, "--out", w / "p")
    assert code == 0, err
    for folder, acc in ((w / "enc", 80.0), (w / "p", 79.5)):
        write_json_atomic(folder / "metrics.json", {"cp": folder.name == "p", "acc": acc,
                                                    "asr": 3.0, "accb": 78.0})  # fmt: skip
    common = ["--encoder", w / "enc", "--bug", w / "bug", "--probe-data", w / "digits.npz",
              "--probe-size", 300, "--quiet"]  # fmt: skip
    run(capsys, "check", "intake", *common, "--json", w / "bug" / "intake.json")
    run(capsys, "check", "release", *common, "--patched", w / "p", "--json", w / "p" / "gate.json")
    code, _, err = run(capsys, "report", w / "p", "--out", w / "report.html")
    assert code == 0, err
    return w / "report.html"


def test_the_report_holds_every_part_inline(page):
    text = page.read_text()
    for heading in ("Bug instance and trigger", "Loss terms during the patch", "Metrics",
                    "Gate verdicts", "History", "Hyperparameters"):  # fmt: skip
        assert f"<h2>{heading}" in text
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == 5  # x_b x_r heat mask loss
    assert "<script" not in text and not re.search(r'(src|href)="(?!data:)', text)
    assert "<h3>intake: " in text and "<h3>release: " in text
    assert "<td>before</td><td>no</td><td>80.00</td>" in text
    assert "<td>after</td><td>yes</td><td>79.50</td>" in text


def test_report_refuses_a_missing_source_or_an_existing_output(page, capsys):
    code, _, err = run(capsys, "report", page.parent / "nope", "--out", page.parent / "x.html")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "report", page.parent / "p", "--out", page)
    assert code == 2 and "already exists" in err


def test_a_results_file_gets_its_table_and_figure(tmp_path, capsys):
    code, _, err = run(capsys, "report", ROOT / "results" / "table4.json", "--out",
                       tmp_path / "t.html")  # fmt: skip
    assert code == 0, err
    text = (tmp_path / "t.html").read_text()
    assert "<h1>table4: " in text and text.count("data:image/png;base64,") == 1


# The page is copied with a script that reports, once loaded, any error and every image that
# did not decode; Chromium prints the DOM after the load.
PROBE = """<script>
var errs = [];
window.addEventListener('error', function (e) { errs.push(String(e.message || e.type)); }, true);
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  var p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({images: imgs.length, broken: bad, errors: errs});
  document.body.appendChild(p);
});
</script>"""


def _browser() -> str | None:
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium: `make test` installs "
                    "the Debian package chromium when run as root")  # fmt: skip
def test_the_report_renders_in_a_real_browser(page, tmp_path):
    exe = _browser()
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=5000"]  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", probed.as_uri()], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout)
    assert found, f"the page did not finish loading: {dom.stderr[-2000:]}"
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe == {"images": 5, "broken": 0, "errors": []}
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, "--window-size=1200,1800", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 1800)
        colours = im.convert("RGB").resize((120, 180)).getcolors(maxcolors=120 * 180)
    assert colours is not None and len(colours) > 20  # text, tables and images, not a blank page


@pytest.mark.slow
def test_the_demo_writes_its_report(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--steps", 5, "--out", tmp_path / "demo", "--quiet")
    assert code == 0, err
    assert "after" in out
    text = (tmp_path / "demo" / "report.html").read_text()
    pngs = sorted((tmp_path / "demo").glob("*.png"))
    assert pngs and text.count("data:image/png;base64,") == len(pngs)
    assert "before" in text and "after" in text
