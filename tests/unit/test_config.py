"""Config model: loading, environment overrides and the one-line errors for bad input."""

from __future__ import annotations

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from tests.conftest import MINIMAL

pytestmark = pytest.mark.unit


def test_root_pipeline_has_the_four_mlc_llm_variants(root):
    cfg = config.load(root / "pipeline.toml", env={})
    assert list(cfg.variants) == ["cpu", "cu128", "cu130", "vulkan"]
    assert cfg.project.source == "3rdparty/mlc-llm"
    assert cfg.image.name == "ghcr.io/mlc-ai/mlc-llm"
    assert cfg.python.versions == ("3.10", "3.11", "3.12", "3.13")
    assert cfg.default_variant == "cpu"
    assert cfg.variant("cu128").cuda == "12.8"
    assert cfg.to_dict()["source_dir"].endswith("3rdparty/mlc-llm")


def test_config_path_precedence(tmp_path):
    assert config.config_path("a.toml", {"MLC_CI_CONFIG": "b.toml"}).name == "a.toml"
    assert config.config_path(None, {"MLC_CI_CONFIG": "b.toml"}).name == "b.toml"
    assert config.config_path(None, {}).name == "pipeline.toml"
    del tmp_path


def test_environment_overrides_the_file(make_config):
    env = {
        "MLC_CI_SOURCE": "elsewhere",
        "MLC_CI_DOCKER": "/usr/bin/docker",
        "MLC_CI_NETWORK": "none",
        "MLC_CI_PLAT": "manylinux_2_28_x86_64",
    }
    cfg = config.load(make_config(), env=env)
    assert cfg.project.source == "elsewhere"
    assert cfg.image.docker == "/usr/bin/docker"
    assert cfg.image.network == "none"
    assert cfg.wheel.plat == "manylinux_2_28_x86_64"


def test_variant_from_environment_must_exist(make_config):
    with pytest.raises(PipelineError, match="unknown variant 'cu999'"):
        config.load(make_config(), env={"MLC_CI_VARIANT": "cu999"})


def test_unknown_variant_lists_known_ones(make_config):
    cfg = config.load(make_config(), env={})
    with pytest.raises(PipelineError, match="pick one of: cpu"):
        cfg.variant("rocm")


def test_malformed_toml_names_the_line(make_config):
    path = make_config("[project]\nname = \n")
    with pytest.raises(PipelineError, match=r"malformed TOML.*line 2"):
        config.load(path, env={})


def test_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(PipelineError, match="no pipeline configuration at .*MLC_CI_CONFIG"):
        config.load(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("[wheel]\nplatt = 'x'\n", "unknown key 'wheel.platt'"),
        ("[nonsense]\n", "unknown key 'nonsense'"),
        ("[variants.cpu2]\ndistribution = 'x'\nbogus = 1\n", "unknown key 'variants.cpu2.bogus'"),
        ("[wheel]\nfrontend = 'poetry'\n", "'wheel.frontend' is 'poetry'"),
        ("[image]\nbuilder = 'kaniko'\n", "'image.builder' is 'kaniko'"),
        ("[scan]\nseverity = 'HIGH,SEVERE'\n", "unknown severity 'SEVERE'"),
        ("[wheel]\nsmoke = 'python -c 1'\n", "'wheel.smoke' must be an array of strings"),
        (
            "[image]\nsize_budget_mb = { ci = true }\n",
            "'image.size_budget_mb.ci' must be an integer",
        ),
        ("[image]\nsize_budget_mb = 3\n", "'image.size_budget_mb' must be a table"),
        ("[variants.x]\ndistribution = 'x'\nconfig = { A = [1] }\n", "must be a boolean"),
        ("[variants.x]\ndistribution = 3\n", "'variants.x.distribution' must be a str"),
        ("[variants.y]\nconfig = {}\n", "missing key 'variants.y.distribution'"),
        ("[wheel]\nplat = { a = 1 }\n", "'wheel.plat' must be a str"),
        ("[lint]\npaths = 'src'\n", "'lint.paths' must be an array"),
        ("schema = true\n", "'schema' must be an integer"),
    ],
)
def test_bad_values_are_named(make_config, snippet, message):
    text = snippet + MINIMAL if not snippet.startswith("[") else MINIMAL + snippet
    with pytest.raises(PipelineError, match=message):
        config.load(make_config(text), env={})


def test_section_must_be_a_table(make_config):
    with pytest.raises(PipelineError, match="'wheel' must be a table"):
        config.load(make_config('wheel = "x"\n' + MINIMAL), env={})


def test_missing_project_and_variants(make_config):
    with pytest.raises(PipelineError, match=r"missing \[project\]"):
        config.load(make_config("[variants.cpu]\ndistribution='x'\n"), env={})
    text = "[project]\nname='d'\nsource='.'\npackage='d'\ncli='d'\ndistribution='d'\n"
    with pytest.raises(PipelineError, match="no \\[variants.<name>\\] tables"):
        config.load(make_config(text), env={})
    with pytest.raises(PipelineError, match="must be a table"):
        config.load(make_config(text + "[variants]\ncpu = 1\n"), env={})
    with pytest.raises(PipelineError, match="missing key 'project.cli'"):
        config.load(
            make_config(text.replace("cli='d'\n", "") + "[variants.c]\ndistribution='x'\n"), env={}
        )


def test_require_source_accepts_a_shaped_tree(make_config):
    cfg = config.load(make_config(), env={})
    assert config.require_source(cfg) == cfg.source_dir


def test_require_source_missing_directory(make_config):
    cfg = config.load(make_config(source=False), env={})
    with pytest.raises(PipelineError, match="does not exist.*MLC_CI_SOURCE"):
        config.require_source(cfg)


def test_require_source_not_mlc_shaped(make_config):
    path = make_config()
    (path.parent / "src-tree" / "CMakeLists.txt").unlink()
    cfg = config.load(path, env={})
    with pytest.raises(PipelineError, match="has no CMakeLists.txt"):
        config.require_source(cfg)


def test_uninitialised_submodule_says_how_to_fix(make_config, tmp_path):
    path = make_config(source=False)
    (tmp_path / "src-tree").mkdir()
    (tmp_path / ".gitmodules").write_text(
        '[submodule "x"]\n\tpath = src-tree\n\turl = https://example.invalid/x\n', encoding="utf-8"
    )
    cfg = config.load(path, env={})
    with pytest.raises(PipelineError, match="git submodule update --init --recursive"):
        config.require_source(cfg)


def test_root_submodule_is_registered(root):
    cfg = config.load(root / "pipeline.toml", env={})
    if any(cfg.source_dir.iterdir()):
        # A checkout with MLC-LLM in place: the real tree has the project's build shape.
        assert config.require_source(cfg) == cfg.source_dir
        return
    with pytest.raises(PipelineError, match="submodule .* is not initialised"):
        config.require_source(cfg)
