"""The `overhead` section: the pipeline against the raw tools on a real third-party project.

A real scikit-build-core sdist from PyPI (default boost-histogram 1.8.1: a pybind11 extension
of a few minutes' compile, a setuptools_scm version read from its PKG-INFO, one cp3XY wheel per
Python), unpacked as it ships, never edited. Raw: `pip wheel --no-deps` then
`auditwheel repair`, what a hand-written CI job runs. Pipeline: `python -m mlc_ci wheels-linux`
with a pipeline.toml of a few lines, on the same interpreter (MLC_CI_SMOKE_PYTHONS=current), with
an empty ccache (cold) and with the ccache the cold run filled (warm); its CMake build directory is
removed before each run. The pipeline's cold run does more than the raw one (config checks,
verification, a smoke test in a fresh venv): the target bounds what that costs.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

from benchmarks import bench

PROJECT = os.environ.get("MLC_CI_BENCH_PROJECT", "boost-histogram==1.8.1")
# What the project's own docs say a first use looks like; it needs no network and no data.
SMOKE = (
    "python -c 'import boost_histogram as bh; h = bh.Histogram(bh.axis.Regular(10, 0, 1)); "
    "h.fill([0.25, 0.5, 0.5]); assert h.sum() == 3'"
)
PIPELINE = """schema = 1

[project]
name = "{name}"
source = "{source}"
package = "{package}"
cli = "{package}"
distribution = "{name}"
version = "backend"

[python]
versions = ["{python}"]

[wheel]
smoke = [{smoke!r}]

[variants.cpu]
distribution = "{name}"
"""


def _sdist(b: Any) -> Path:
    """The project's sdist from PyPI, unpacked under the scratch copy (untimed)."""
    where = b.work / "overhead"
    shutil.rmtree(where, ignore_errors=True)
    (where / "sdist").mkdir(parents=True)
    pip = str(b.venv_bin("wheels-linux") / "pip")
    b.run(
        [pip, "download", "--no-deps", "--no-binary", ":all:", PROJECT, "-d", str(where / "sdist")],
        "overhead-download",
    )
    (archive,) = (where / "sdist").glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(where / "src", filter="data")
    (source,) = (where / "src").iterdir()
    return source


def section_overhead(b: Any) -> dict[str, Any]:
    """Raw `pip wheel` + `auditwheel repair` vs wheels-linux, cold and warm, one interpreter."""
    venv = b.venv_bin("wheels-linux")
    source = _sdist(b)
    name = PROJECT.split("==", 1)[0]
    asked = [str(venv / "python"), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    python = b.run(asked, "overhead-python").output.splitlines()[-1].strip()
    config = b.work / "overhead" / "pipeline.toml"
    config.write_text(
        PIPELINE.format(
            name=name,
            source=os.path.relpath(source, config.parent),
            package=name.replace("-", "_"),
            python=python,
            smoke=SMOKE,
        ),
        encoding="utf-8",
    )
    env = {
        "PATH": f"{venv}{os.pathsep}{b.env['PATH']}",
        "VIRTUAL_ENV": str(venv.parent),
        "MLC_CI_SMOKE_PYTHONS": "current",
    }
    runs: dict[str, list[float]] = {"raw": [], "cold": [], "warm": []}

    def raw(index: int) -> float:
        out = b.work / "overhead" / f"raw-{index}"
        shutil.rmtree(out, ignore_errors=True)
        built = b.run(
            [str(venv / "pip"), "wheel", "--no-deps", "-w", str(out / "built"), str(source)],
            f"overhead-raw-build-{index}",
            env=env,
        )
        (wheel,) = (out / "built").glob("*.whl")
        repaired = b.run(
            [str(venv / "auditwheel"), "repair", "-w", str(out / "repaired"), str(wheel)],
            f"overhead-raw-repair-{index}",
            env=env,
        )
        return built.seconds + repaired.seconds

    def pipeline(label: str, index: int) -> float:
        shutil.rmtree(b.scratch / ".cache" / "mlc-ci" / "cmake-build", ignore_errors=True)
        ccache = b.work / "overhead" / f"ccache-{index}"
        if label == "cold":
            shutil.rmtree(ccache, ignore_errors=True)
        run_env = {
            **env,
            "MLC_CI_CCACHE_DIR": str(ccache),
            "MLC_CI_REPORTS_DIR": str(b.work / "overhead" / f"reports-{label}-{index}"),
        }
        argv = [str(venv / "python"), "-m", "mlc_ci", "wheels-linux", "--config", str(config)]
        argv += ["--variant", "cpu", "--out", str(b.work / "overhead" / f"dist-{label}-{index}")]
        return b.run(argv, f"overhead-{label}-{index}", env=run_env).seconds

    for index in range(b.reps):  # interleaved, so a slow spell of the machine hits both sides
        runs["raw"].append(raw(index))
        runs["cold"].append(pipeline("cold", index))
        runs["warm"].append(pipeline("warm", index))
    figures = {label: bench.summarize(values) for label, values in runs.items()}
    cold = bench.ratio(figures["cold"]["median"], figures["raw"]["median"])
    warm = bench.ratio(figures["warm"]["median"], figures["raw"]["median"])
    return {
        "figures": figures,
        "ratios": {"pipeline cold / raw": cold, "pipeline warm / raw": warm},
        "targets": [bench.target("overhead: pipeline cold / raw pip wheel + repair", cold, 1.03)],
        "notes": [
            f"{PROJECT} from its sdist (PyPI), Python {python}; raw = pip wheel --no-deps + "
            "auditwheel repair; pipeline = wheels-linux (config checks, build, repair, verify, "
            "smoke in a fresh venv); cold = empty ccache, warm = the cold run's ccache; the "
            "CMake build directory removed before every pipeline run",
        ],
    }
