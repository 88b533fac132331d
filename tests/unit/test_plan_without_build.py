"""`plan S` on a fresh clone (#36): every session plans before any build, with placeholders for
what an earlier session will make; a run without those inputs still refuses, naming the command
to run first with the user's --config. And the inputs a run checks first, a dry run checks too."""

from __future__ import annotations

import io
import subprocess

import pytest

from mlc_ci import cli, config
from mlc_ci.errors import PipelineError
from mlc_ci.sessions import registry
from tests.conftest import MINIMAL, ROOT

pytestmark = pytest.mark.unit

MINI = "examples/mini-llm/pipeline.toml"
FLAG = ["--config", MINI]
# What a run of each session needs from an earlier one, and the command the hint names for it.
NEEDS = {
    "integration": ("each <TARGET image from docker-build>", "docker-build -- all --variant cpu"),
    "trivy": ("<production image from docker-build>", "docker-build -- all --variant cpu"),
    "gpu-smoke": ("<wheel from wheels-linux --variant cu130>", "wheels-linux -- --variant cu130"),
}


@pytest.fixture(name="fresh")
def fixture_fresh(tmp_path, monkeypatch):
    """The checkout as cloned: no reports/, no dist/ (both pointed into tmp_path, where neither
    exists), and no Docker CLI, so no plan depends on the host's."""
    monkeypatch.chdir(ROOT)
    for name in ("MLC_CI_CONFIG", "MLC_CI_VARIANT", "MLC_CI_IMAGES_DIR", "MLC_CI_TRIVY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLC_CI_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("MLC_CI_DIST_DIR", str(tmp_path / "dist"))
    monkeypatch.setenv("MLC_CI_DOCKER", str(tmp_path / "no-docker"))
    return tmp_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """cli.main in this process: status, stdout, stderr."""
    out = io.StringIO()
    status = cli.main(argv, out=out)
    return status, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize("session", sorted(registry()))
def test_every_session_plans_on_a_fresh_clone(session, fresh, capsys):
    status, out, err = run(["plan", session, "--", *FLAG], capsys)
    assert status == 0, err
    assert "(dry run) ==" in out
    assert not (fresh / "reports").exists() and not (fresh / "dist").exists()


@pytest.mark.parametrize("session", sorted(NEEDS))
def test_a_dry_run_shows_placeholders_and_says_what_makes_them(session, fresh, capsys):
    placeholder, command = NEEDS[session]
    status, out, _ = run(["plan", session, "--", *FLAG], capsys)
    assert status == 0
    note = next(line for line in out.splitlines() if line.strip().startswith("dry run:"))
    assert placeholder in note and f"`nox -s {command} --config {MINI}`" in note
    assert "a run needs it first" in note
    del fresh


def test_the_image_steps_show_the_placeholder_where_the_image_goes(fresh, capsys):
    production = "'<production image from docker-build>'"
    out = run(["plan", "trivy", "--", *FLAG], capsys)[1]
    assert f"image inspect {production}" in out
    out = run(["plan", "integration", "--", *FLAG], capsys)[1]
    env = next(line for line in out.splitlines() if "MLC_CI_IMAGES=" in line)
    assert '"production": "<production image from docker-build>"' in env
    del fresh


def test_a_release_dry_run_without_a_tag_shows_a_placeholder(fresh, capsys):
    status, out, _ = run(["plan", "release", "--", *FLAG], capsys)
    assert status == 0
    assert "tag <tag>:" in out
    note = next(line for line in out.splitlines() if "without a release tag" in line)
    assert "--tag vX.Y.Z" in note and "GITHUB_REF" in note
    del fresh


@pytest.mark.parametrize("session", sorted(NEEDS))
def test_a_run_without_the_earlier_output_still_refuses(session, fresh, capsys):
    _, command = NEEDS[session]
    status, out, err = run([session, *FLAG], capsys)
    assert status == 2, out + err
    (line,) = err.splitlines()
    # The real plan's own refusal (not "its dry run fails"), naming the command with --config.
    assert line.startswith("mlc-ci: error: no ") and "dry run" not in line
    assert f"`nox -s {command} --config {MINI}`" in line
    assert not (fresh / "reports").exists()


def test_a_release_run_without_a_tag_still_refuses(fresh, capsys):
    status, _, err = run(["release", *FLAG], capsys)
    assert status == 2 and err.startswith("mlc-ci: error: no release tag: pass --tag")
    assert not (fresh / "reports").exists()


def test_without_a_config_flag_the_hint_adds_none(fresh, monkeypatch, capsys):
    monkeypatch.setenv("MLC_CI_CONFIG", MINI)
    status, out, _ = run(["plan", "integration"], capsys)
    assert status == 0 and "`nox -s docker-build -- all --variant cpu` will build" in out
    status, _, err = run(["integration"], capsys)
    assert status == 2 and "`nox -s docker-build -- all --variant cpu` first" in err
    del fresh


def test_a_dry_run_with_the_earlier_output_plans_from_it(fresh, capsys):
    """Once the wheel is in dist/, the dry run names it, not a placeholder."""
    (fresh / "dist").mkdir()
    wheel = "mini_llm_cu130-0.1.0-py3-none-manylinux_2_31_x86_64.whl"
    (fresh / "dist" / wheel).touch()
    status, out, _ = run(["plan", "gpu-smoke", "--", *FLAG], capsys)
    assert status == 0 and f"{wheel} on this GPU" in out and "<wheel from" not in out


# --- the inputs a run checks before its first step, a dry run checks too -----------------------


def test_a_dry_run_refuses_an_uninitialised_submodule(make_config, tmp_path, monkeypatch, capsys):
    path = make_config(source=False)
    (tmp_path / "src-tree").mkdir()
    (tmp_path / ".gitmodules").write_text('[submodule "s"]\n\tpath = src-tree\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for session in ("wheels-linux", "wheels-windows", "docker-build"):
        status, out, err = run(["plan", session, "--", "--config", str(path)], capsys)
        assert status == 2, out
        assert "is not initialised" in err and "git submodule update --init --recursive" in err


def test_a_dry_run_refuses_a_secret_file_that_is_not_there(fresh, capsys):
    argv = ["plan", "docker-build", "--", *FLAG, "--secret", "id=pip_index,src=nope.conf"]
    status, _, err = run(argv, capsys)
    assert status == 2 and f"{ROOT / 'nope.conf'} is not a file; point src=" in err
    # A secret from a variable names no file.
    argv[-1] = "id=token,type=env,src=GITHUB_TOKEN"
    assert run(argv, capsys)[0] == 0
    del fresh


def write(where, source: str):
    """A pipeline.toml at `where` whose [project].source is `source`; its path."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / "pipeline.toml"
    path.write_text(MINIMAL.replace('source = "src-tree"', f'source = "{source}"'), "utf-8")
    return path


def test_a_source_outside_the_repository_is_refused_at_load(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(("git", "init", "-q", str(repo)), check=True)
    # Inside the repository, beside the directory of pipeline.toml: fine.
    assert config.load(write(repo / "ci", "../src-tree"), env={}).source_dir == repo / "src-tree"
    path = write(repo / "ci", "../../elsewhere")
    with pytest.raises(PipelineError) as caught:
        config.load(path, env={})
    line = str(caught.value)
    assert line.startswith(f"{path}: 'project.source' is '../../elsewhere', which is ")
    assert f"outside the repository {repo}" in line and "git submodule" in line
    # From the environment: the variable is named, and unsetting it is a fix.
    with pytest.raises(PipelineError, match=r"^MLC_CI_SOURCE \(environment\) sets 'project.sourc"):
        config.load(write(repo / "ci", "../src-tree"), env={"MLC_CI_SOURCE": str(tmp_path)})


def test_outside_any_repository_the_directory_of_pipeline_toml_bounds_the_source(tmp_path):
    with pytest.raises(PipelineError, match=r"outside .*/ci \(in no git checkout\)"):
        config.load(write(tmp_path / "ci", "../src-tree"), env={})
    assert config.load(write(tmp_path / "ci2", "."), env={}).source_dir == tmp_path / "ci2"
