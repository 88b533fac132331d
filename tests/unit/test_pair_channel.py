"""The pair fetched from its channel by real pip over local HTTP: a flat page of wheel links
(`find_links`, as mlc.ai/wheels serves) and a PEP 503 index (`index`), each read the way it
must be, and a pinned version the channel lacks stopping the run before the compile."""

from __future__ import annotations

import functools
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.run import Runner
from mlc_ci.sessions import pair_steps, wheel_steps

pytestmark = pytest.mark.unit

WHEEL = "tiny_runtime-0.1.0-py3-none-any.whl"


def make_wheel(path: Path) -> None:
    """A minimal valid wheel of tiny-runtime 0.1.0."""
    info = "tiny_runtime-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("tiny_runtime/__init__.py", "")
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: tiny-runtime\nVersion: 0.1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")


@pytest.fixture(name="served")
def fixture_served(tmp_path):
    """tmp_path/www over HTTP on loopback: a flat page at /flat/ and an index at /simple/."""
    root = tmp_path / "www"
    (root / "flat").mkdir(parents=True)
    make_wheel(root / "flat" / WHEEL)
    (root / "flat" / "index.html").write_text(f'<a href="{WHEEL}">{WHEEL}</a>\n')
    project = root / "simple" / "tiny-runtime"
    project.mkdir(parents=True)
    (project / "index.html").write_text(f'<a href="../../flat/{WHEEL}">{WHEEL}</a>\n')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def pair_config(make_config, channel: str, version: str = "0.1.0"):
    """A project paired with tiny-runtime from `channel` (a pipeline.toml line) at `version`."""
    text = (
        "[project]\nname = 'demo'\nsource = 'src-tree'\ndistribution = 'demo'\n"
        f"version = 'pyproject'\n[pair]\ndistribution = 'tiny-runtime'\n{channel}\n"
        f"version = '{version}'\nlibraries = ['libtiny_runtime.so']\n"
        "[variants.cpu]\ndistribution = 'demo-cpu'\n"
    )
    cfg = config.load(make_config(text), env={})
    return cfg, cfg.variant("cpu")


def fetch(cfg, variant) -> Runner:
    """Run the steps that fetch the pair before the build; the runner keeps their context."""
    layout = wheel_steps.Layout(cfg, variant, None)
    runner = Runner(out=io.StringIO())
    steps = pair_steps.fetch_first(cfg, variant, layout, "nothing was built")
    assert [s.title for s in steps][1].startswith("download tiny-runtime from ")
    for index, step in enumerate(steps, 1):
        runner.run(step, index, len(steps))
    return runner


@pytest.mark.parametrize("channel", ["find_links = '{url}/flat/'", "index = '{url}/simple/'"])
def test_each_channel_serves_the_pinned_pair(served, make_config, tmp_path, monkeypatch, channel):
    monkeypatch.chdir(tmp_path)
    cfg, variant = pair_config(make_config, channel.format(url=served))
    runner = fetch(cfg, variant)
    assert Path(runner.context["pair"]).name == WHEEL


def test_a_flat_page_read_as_an_index_finds_nothing(served, make_config, tmp_path, monkeypatch):
    # Why `find_links` exists: pip asks an index for /<project>/, which a flat page lacks.
    monkeypatch.chdir(tmp_path)
    cfg, variant = pair_config(make_config, f"index = '{served}/flat/'")
    with pytest.raises(PipelineError, match="download tiny-runtime from"):
        fetch(cfg, variant)


def test_a_pin_the_channel_lacks_stops_before_the_build(served, make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, variant = pair_config(make_config, f"find_links = '{served}/flat/'", version="0.0.9")
    with pytest.raises(PipelineError, match="download tiny-runtime from"):
        fetch(cfg, variant)
    # In the session's plan the fetch comes before the compile.
    layout = wheel_steps.Layout(cfg, variant, None)
    titles = [s.title for s in pair_steps.fetch_first(cfg, variant, layout, "k")]
    assert titles[-1] == "locate the tiny-runtime wheel"


def test_the_pair_is_fetched_after_the_build_when_its_version_comes_from_the_wheel(
    served, make_config, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    cfg, variant = pair_config(make_config, f"find_links = '{served}/flat/'", version="")
    layout = wheel_steps.Layout(cfg, variant, None)
    assert not pair_steps.fetch_first(cfg, variant, layout, "k")
    after = [s.title for s in pair_steps.after_build(cfg, variant, layout, "k")]
    assert after[0].startswith("check the wheel requires tiny-runtime exactly")
    assert "download tiny-runtime from " + served + "/flat/" in after
