"""One wheel per Python: tag parsing, the backend's settings, the plan for a C extension."""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import zipfile
from pathlib import Path

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import pythons
from mlc_ci.plan import release as rel
from mlc_ci.run import Runner, Step
from mlc_ci.sessions import gpu_smoke, python_wheels, wheel_steps, wheels_linux

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CEXT = ROOT / "tests" / "fixtures" / "projects" / "cext" / "pipeline.toml"
OWN = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER = "3.11" if OWN != "3.11" else "3.12"
SKBUILD = '[build-system]\nbuild-backend = "scikit_build_core.build"\n'


@pytest.mark.parametrize(
    ("name", "kind", "python"),
    [
        ("mini_llm_cpu-0.1.0-py3-none-manylinux_2_31_x86_64.whl", "py3", ""),
        ("a-1-py2.py3-none-any.whl", "py3", ""),
        ("cext-0.1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "cpython", "3.12"),
        ("cext-0.1.0-cp310-cp310-manylinux1_x86_64.manylinux_2_5_x86_64.whl", "cpython", "3.10"),
        ("ext-1.0-cp38-abi3-manylinux_2_28_x86_64.whl", "abi3", "3.8"),
    ],
)
def test_a_wheel_tag_says_which_pythons_it_serves(name, kind, python):
    assert pythons.tag_api(name) == pythons.Api(kind, python)


def test_a_tag_for_another_interpreter_or_no_wheel_name_is_refused():
    with pytest.raises(PipelineError, match="pp310"):
        pythons.tag_api("a-1-pp310-pypy310_pp73-manylinux_2_28_x86_64.whl")
    with pytest.raises(PipelineError, match="not a valid wheel file name"):
        pythons.tag_api("not-a-wheel.zip")


def test_which_python_an_api_runs_on():
    assert pythons.Api("abi3", "3.8").runs_on("3.13") and pythons.Api("abi3", "3.9").runs_on("3.10")
    assert not pythons.Api("abi3", "3.12").runs_on("3.11")
    assert pythons.Api("cpython", "3.11").runs_on("3.11")
    assert not pythons.Api("cpython", "3.11").runs_on("3.12")
    assert pythons.Api("py3").runs_on("3.10")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SKBUILD, pythons.Api("cpython")),
        (SKBUILD + '[tool.scikit-build]\nwheel.py-api = "py3"\n', pythons.Api("py3")),
        (SKBUILD + '[tool.scikit-build.wheel]\npy-api = "cp39"\n', pythons.Api("abi3", "3.9")),
        ('[build-system]\nbuild-backend = "setuptools.build_meta"\n', None),
        ("[project]\nname = 'x'\n", None),
        ("[project\n", None),  # broken: the backend says so in its own words
    ],
)
def test_the_backend_settings_tell_the_wheel_tag_before_a_build(text, expected):
    assert pythons.declared_api(text) == expected


def test_the_setting_wins_over_the_backend_and_auto_follows_it():
    cpython, universal = pythons.Api("cpython"), pythons.Api("py3")
    assert pythons.decide(True, universal).per_python
    assert not pythons.decide(False, cpython).per_python
    assert pythons.decide("auto", cpython).per_python
    assert not pythons.decide("auto", universal).per_python
    assert not pythons.decide("auto", None).per_python  # the first wheel's tag is checked
    abi3 = pythons.decide("auto", pythons.Api("abi3", "3.11"))
    kept, older = pythons.smoke_pythons(abi3, [("3.10", "/p10"), ("3.12", "/p12")])
    assert kept == [("3.12", "/p12")] and older == ["3.10"]


def test_a_built_wheel_that_does_not_fit_the_plan_names_the_fix():
    single, per = pythons.decide(False, None), pythons.decide(True, None)
    cp312 = "cext-0.1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    problem = pythons.tag_problem(single, cp312, "3.12", ["3.11", "3.13"])
    assert "3.11, 3.13" in problem and "[wheel].per_python = true" in problem
    assert pythons.tag_problem(single, cp312, "3.12", []) == ""
    assert pythons.tag_problem(per, cp312, "3.12", ["3.11"]) == ""
    assert "built with 3.11" in pythons.tag_problem(per, cp312, "3.11", [])
    py3 = "a-1-py3-none-manylinux_2_28_x86_64.whl"
    assert "[wheel].per_python = false" in pythons.tag_problem(per, py3, "3.12", [])
    assert pythons.tag_problem(single, py3, "3.12", ["3.10"]) == ""
    abi3 = "a-1-cp311-abi3-manylinux_2_28_x86_64.whl"
    assert "3.10" in pythons.tag_problem(single, abi3, "3.12", ["3.10", "3.13"])


def test_per_python_takes_true_false_or_auto(make_config):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    assert config.load(make_config(MINIMAL), env={}).wheel.per_python == "auto"
    on = config.load(make_config(MINIMAL + "[wheel]\nper_python = true\n"), env={})
    assert on.wheel.per_python is True
    with pytest.raises(PipelineError, match=r"'wheel.per_python' is 'sometimes'; use true, false"):
        config.load(make_config(MINIMAL + '[wheel]\nper_python = "sometimes"\n'), env={})
    with pytest.raises(PipelineError, match=r"'wheel.per_python' must be a boolean or string"):
        config.load(make_config(MINIMAL + "[wheel]\nper_python = 1\n"), env={})


def args(**kw):
    """Parsed wheels-linux arguments (a dry run on the host)."""
    base = {
        "variant": "cpu",
        "out": None,
        "container": False,
        "python": None,
        "dry_run": True,
        "check_reproducible": False,
    }
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture(name="other_python")
def fixture_other_python(tmp_path):
    """A PATH holding `python<OTHER>`: a stand-in interpreter that says it is that version."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / f"python{OTHER}"
    stub.write_text(f"#!/bin/sh\necho {OTHER}\n")
    stub.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "MLC_CI_SMOKE_PYTHONS": f"{OWN},{OTHER}"}


def titles_of(plan):
    """The step titles of a plan, in order."""
    return [step.title for step in plan.steps]


def test_the_c_extension_fixture_plans_a_wheel_per_python(other_python, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = config.load(CEXT, env={})
    plan = wheels_linux.plan(args(out=str(tmp_path / "dist")), cfg, other_python)
    titles = titles_of(plan)
    steps = {step.title: step for step in plan.steps}
    build = steps[f"build cext wheel (Python {OTHER})"]
    assert build.argv[build.argv.index("--python") + 1].endswith(f"bin/python{OTHER}")
    assert any(a.endswith(f"-python{OTHER}") for a in build.argv if a.startswith("-Cbuild-dir="))
    assert build.env == steps["build cext wheel"].env  # one ccache for both builds
    # The own wheel's tag is checked before the other build starts; every build before repair.
    assert titles.index(f"check the wheel's Python tag (Python {OWN})") < titles.index(
        f"build cext wheel (Python {OTHER})"
    )
    assert titles.index(f"build cext wheel (Python {OTHER})") < titles.index("auditwheel repair")
    # Each wheel is repaired into its own directory and verified, and smoke-tested on its own
    # Python only (the own wheel never goes into the other Python's venv).
    repair = steps[f"auditwheel repair (Python {OTHER})"]
    assert repair.argv[repair.argv.index("-w") + 1].endswith(f"repaired/python{OTHER}")
    assert titles.index(f"check tag, libraries and contents (Python {OTHER})") < titles.index(
        f"install repaired wheel (Python {OTHER})"
    )
    assert titles.index(f"keep the verified Python {OWN} wheel") < titles.index(
        f"install repaired wheel (Python {OTHER})"
    )
    assert sum(title.startswith("install repaired wheel") for title in titles) == 2
    # Nothing is published before every wheel passed.
    publish = [t for t in titles if t.startswith("publish")]
    assert titles[-2:] == publish and len(publish) == 2
    assert plan.data["per_python"] == [OWN, OTHER]
    assert any("one wheel per Python" in note for note in plan.notes)


def test_the_plan_command_shows_the_per_python_steps(other_python, tmp_path):
    from tests.conftest import run_mlc_ci  # pylint: disable=import-outside-toplevel

    env = {**other_python, "MLC_CI_REPORTS_DIR": str(tmp_path / "reports")}
    env["PATH"] = f"{env['PATH']}:{Path(sys.executable).parent}"
    shown = run_mlc_ci("plan", "wheels-linux", "--config", str(CEXT), "--variant", "cpu", env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"build cext wheel (Python {OTHER})" in shown.stdout
    assert f"smoke (Python {OTHER}): " in shown.stdout


def test_per_python_wheels_refuse_a_container_build_and_a_missing_python_in_ci(
    other_python, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    cfg = config.load(CEXT, env={})
    with pytest.raises(PipelineError, match=r"--container builds with the builder image's one"):
        wheels_linux.plan(args(container=True), cfg, other_python)
    missing = {**other_python, "MLC_CI_SMOKE_PYTHONS": f"{OWN},3.99", "CI": "true"}
    with pytest.raises(PipelineError, match="3.99 .*no wheel can be built for it"):
        wheels_linux.plan(args(), cfg, missing)
    # Outside CI it is a note, and the session's own wheel is still built.
    plan = wheels_linux.plan(args(), cfg, {**missing, "CI": ""})
    assert any("no Python 3.99 on PATH" in note for note in plan.notes)
    assert plan.data["per_python"] == [OWN]


def test_one_wheel_for_all_is_tag_checked_only_when_other_pythons_smoke_it(
    other_python, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    cext = config.load(CEXT, env={})
    single = dataclasses.replace(cext, wheel=dataclasses.replace(cext.wheel, per_python=False))
    plan = wheels_linux.plan(args(), single, other_python)
    titles = titles_of(plan)
    assert "check the wheel's Python tag" in titles and plan.data["per_python"] == []
    assert not any(t.startswith("build cext wheel (Python") for t in titles)
    assert f"create clean venv (Python {OTHER})" in titles  # the one wheel, smoked there too
    alone = wheels_linux.plan(args(), single, {**other_python, "MLC_CI_SMOKE_PYTHONS": "current"})
    assert not any("Python tag" in t or "(Python" in t for t in titles_of(alone))


def test_each_kept_wheel_is_published_with_its_own_record(tmp_path):
    cfg = config.load(CEXT, env={})
    layout = wheel_steps.Layout(cfg, cfg.variant("cpu"), str(tmp_path / "dist"))
    ctx_steps = []
    for python in (OWN, OTHER):
        cp = "cp" + python.replace(".", "")
        wheel = tmp_path / "repaired" / f"cext-0.1.0-{cp}-{cp}-manylinux_2_28_x86_64.whl"
        wheel.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("cext/__init__.py", "")

        def verified(ctx, wheel=wheel, python=python):
            ctx["repaired"] = str(wheel)
            ctx.setdefault("report", {}).update(grafted=[f"lib{python}.so"], duplicates=[])

        ctx_steps += [Step(f"verify {python}", action=verified), python_wheels.keep(python)]
    publish = wheel_steps.publish_steps(cfg, cfg.variant("cpu"), layout, (OWN, OTHER))
    runner = Runner(out=io.StringIO())
    runner.run_all([*ctx_steps, *publish])
    arts = runner.context["artifacts"]
    assert [a.details["python"] for a in arts] == [OWN, OTHER]
    assert [a.details["grafted"] for a in arts] == [[f"lib{OWN}.so"], [f"lib{OTHER}.so"]]
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted(a.name for a in arts)


def test_release_verifies_every_wheel_of_a_variant():
    names = [f"cext-0.1.0-cp3{m}-cp3{m}-manylinux_2_28_x86_64.whl" for m in (11, 12)]
    report = {
        "status": "passed",
        "artifacts": [
            {"name": name, "sha256": f"{i}" * 64, "details": {"kind": "wheel", "python": p}}
            for i, (name, p) in enumerate(zip(names, ("3.11", "3.12")))
        ],
    }
    verified = rel.verified_wheels({"wheels-linux-cpu": report})
    assert sorted(verified) == sorted(names)
    in_dist = [rel.WheelFile(name, 1, f"{i}" * 64) for i, name in enumerate(names)]
    assert not rel.verification_problems(in_dist, verified)
    # A per-Python wheel missing from dist/ is named, the other one is not.
    problems = rel.verification_problems(in_dist[:1], verified)
    assert len(problems) == 1 and names[1] in problems[0] and names[0] not in problems[0]


def test_gpu_smoke_takes_the_wheel_this_python_installs(make_config, tmp_path):
    from tests.conftest import MINIMAL  # pylint: disable=import-outside-toplevel

    cuda = '[variants.cu130]\ndistribution = "demo-cu130"\ncuda = "13.0"\n'
    cfg = config.load(make_config(MINIMAL + cuda), env={})
    dist = tmp_path / "dist"
    dist.mkdir()
    own = "cp" + OWN.replace(".", "")
    for cp in sorted({own, "cp310", "cp314"}):
        (dist / f"demo_cu130-1.0-{cp}-{cp}-manylinux_2_28_x86_64.whl").write_bytes(b"")
    variant, wheel = gpu_smoke.choose(cfg, "cu130", dist)
    assert variant.name == "cu130" and f"-{own}-{own}-" in wheel.name


def test_the_tag_check_reads_the_built_wheel(other_python, tmp_path):
    cfg = config.load(CEXT, env={})
    per = python_wheels.choose(cfg, other_python, container=False)
    check = python_wheels.tag_check(per, tmp_path, OWN)
    with pytest.raises(PipelineError, match="expected one wheel"):
        check.action({})
    (tmp_path / "cext-0.1.0-py3-none-linux_x86_64.whl").write_bytes(b"")
    with pytest.raises(PipelineError, match="per_python = false; nothing was copied"):
        check.action({})
    (tmp_path / "cext-0.1.0-py3-none-linux_x86_64.whl").unlink()
    cp = "cp" + OWN.replace(".", "")
    (tmp_path / f"cext-0.1.0-{cp}-{cp}-linux_x86_64.whl").write_bytes(b"")
    check.action({})


def test_an_abi3_wheel_skips_the_pythons_older_than_its_minimum(other_python, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    pyproject = (CEXT.parent / "pyproject.toml").read_text(encoding="utf-8")
    newest = "cp3" + str(max(int(OWN.split(".")[1]), int(OTHER.split(".")[1])))
    pyproject = pyproject.replace("wheel.packages", f'wheel.py-api = "{newest}"\nwheel.packages')
    (source / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    cfg = config.load(CEXT, env={})
    cfg = dataclasses.replace(cfg, project=dataclasses.replace(cfg.project, source=str(source)))
    assert cfg.source_dir == source
    per = python_wheels.choose(cfg, other_python, container=False)
    assert not per.per_python and per.decision.api == pythons.Api("abi3", f"3.{newest[3:]}")
    older = min(OWN, OTHER, key=lambda v: int(v.split(".")[1]))
    if older != OWN:
        assert not per.others and any(f"Python {older} is older" in n for n in per.notes)
