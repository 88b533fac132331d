"""Config model: loading, environment overrides and the one-line errors for bad input."""

from __future__ import annotations

import json
import re

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
        (
            "[variants.y]\nconfig = {}\n[variants.z]\nconfig = {}\n",
            "variants y and z both build demo; give each its own 'distribution'",
        ),
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
    with pytest.raises(PipelineError, match="missing key 'project.name'"):
        config.load(make_config("[project]\nsource='.'\n[variants.c]\n"), env={})
    # The distribution defaults to the project's name, and each variant's to the project's.
    named = config.load(make_config(text.replace("distribution='d'\n", "") + "[variants.c]\n"))
    assert named.project.distribution == "d" and named.variants["c"].distribution == "d"
    # cli and package are optional: a project without a `python -m` CLI is still buildable.
    bare = text.replace("cli='d'\n", "").replace("package='d'\n", "")
    cfg = config.load(make_config(bare + "[variants.c]\ndistribution='x'\n"), env={})
    assert (cfg.project.cli, cfg.project.package) == ("", "")


def test_require_source_accepts_a_shaped_tree(make_config):
    cfg = config.load(make_config(), env={})
    assert config.require_source(cfg) == cfg.source_dir


def test_require_source_missing_directory(make_config):
    cfg = config.load(make_config(source=False), env={})
    with pytest.raises(PipelineError, match="does not exist.*MLC_CI_SOURCE"):
        config.require_source(cfg)


def test_a_missing_source_from_the_environment_blames_the_variable(make_config, tmp_path):
    cfg = config.load(make_config(), env={"MLC_CI_SOURCE": str(tmp_path / "nope")})
    with pytest.raises(PipelineError, match=r"\(from MLC_CI_SOURCE, environment\) does not exist"):
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


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("[project]", "schema = 2\n[project]", "schema 2 is not supported"),
        ("[project]", "schema = 0\n[project]", "schema 0 is not supported"),
        ('distribution = "demo-cpu"', 'distribution = " "', "'variants.cpu.distribution' is empty"),
        ('distribution = "demo"', 'distribution = ""', "'project.distribution' is empty"),
        ("USE_CUDA = false", '"set(A B) \\"x" = false', "not a CMake variable name"),
        ("USE_CUDA = false", '"1ABC" = false', "not a CMake variable name"),
        (
            "[variants.cpu]",
            "[wheel]\nplat = 'manylinux_2_28'\n[variants.cpu]",
            "auditwheel platform",
        ),
        (
            "[variants.cpu]",
            "[wheel]\nplat = 'manylinux2014'\n[variants.cpu]",
            "auditwheel platform",
        ),
        ("[variants.cpu]", "[wheel]\nsmoke = ['python -c \"x']\n[variants.cpu]", "does not split"),
        ("[variants.cpu]", "[wheel]\nsmoke = ['  ']\n[variants.cpu]", "empty command"),
        (
            "USE_CUDA = false }",
            "USE_CUDA = false }\ndelvewheel_add_path = ['{cuda}/bin']",
            "not one of the placeholders {cuda_home}",
        ),
        (
            'distribution = "demo"',
            'distribution = "demo"\nbuild_requires = ["scikit-build-core"]',
            "list only version ranges of cmake and ninja",
        ),
        (
            'distribution = "demo"',
            'distribution = "demo"\nbuild_requires = ["cmake>=>3"]',
            "is not a requirement",
        ),
    ],
)
def test_values_are_checked_at_load_time(make_config, old, new, fragment):
    assert old in MINIMAL
    with pytest.raises(PipelineError, match=re.escape(fragment)):
        config.load(make_config(MINIMAL.replace(old, new, 1)), env={})


@pytest.mark.parametrize(
    "plat",
    [
        "auto",
        "manylinux_2_28_x86_64",
        "manylinux2014_aarch64",
        "musllinux_1_2_x86_64",
        "linux_x86_64",
    ],
)
def test_auditwheel_platforms_are_accepted(make_config, plat):
    cfg = config.load(make_config(), env={"MLC_CI_PLAT": plat})
    assert cfg.wheel.plat == plat


def test_build_tool_pins_map_to_scikit_build_core():
    assert config.build_tool_pin("cmake>=3.26", "x") == ("SKBUILD_CMAKE_VERSION", ">=3.26")
    assert config.build_tool_pin("Ninja", "x") == ("SKBUILD_NINJA_VERSION", ">=0")


def test_smoke_commands_with_braces_are_commands(make_config):
    text = "[wheel]\nsmoke = ['python -c \"f({\\\"a\\\": 1})\"', 'echo }']\n[variants.cpu]"
    cfg = config.load(make_config(MINIMAL.replace("[variants.cpu]", text)), env={})
    assert cfg.wheel.smoke == ('python -c "f({\\"a\\": 1})"', "echo }")


def test_environment_values_are_blamed_on_the_environment(make_config):
    with pytest.raises(PipelineError, match=r"^MLC_CI_PLAT \(environment\) is 'bogus'"):
        config.load(make_config(), env={"MLC_CI_PLAT": "bogus"})
    with pytest.raises(PipelineError, match=r"^MLC_CI_SCAN_SEVERITY \(environment\) names"):
        config.load(make_config(), env={"MLC_CI_SCAN_SEVERITY": "HIGH,SEVERE"})


def test_override_of_a_scalar_section_is_one_line(make_config):
    path = make_config("wheel = 'x'\n" + MINIMAL)
    with pytest.raises(PipelineError, match="'wheel' must be a table for MLC_CI_PLAT"):
        config.load(path, env={"MLC_CI_PLAT": "auto"})


def test_paths_are_relative_to_the_file_and_the_environment_to_the_cwd(
    make_config, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = config.load(make_config(), env={})
    assert cfg.wheel.dist_dir == str(tmp_path / "dist")
    assert cfg.wheel.ccache_dir == str(tmp_path / ".cache" / "ccache")
    cfg = config.load(make_config(), env={"MLC_CI_DIST_DIR": "out"})
    assert cfg.wheel.dist_dir == str(elsewhere / "out")


@pytest.mark.parametrize("kind", ["directory", "loop", "latin1"])
def test_unreadable_config_paths_are_one_line(tmp_path, kind):
    target = tmp_path / "pipeline.toml"
    if kind == "directory":
        target.mkdir()
        fragment = "is a directory"
    elif kind == "loop":
        target.symlink_to(tmp_path / "other.toml")
        (tmp_path / "other.toml").symlink_to(target)
        fragment = "pipeline.toml"
    else:
        target.write_bytes(b"[project]\nname = '\xe9'\n")
        fragment = "is not UTF-8"
    with pytest.raises(PipelineError, match=fragment):
        config.load(target, env={})


def test_a_variant_without_a_distribution_builds_the_projects(make_config):
    text = MINIMAL.replace('distribution = "demo-cpu"\n', "")
    assert 'distribution = "demo-cpu"' in MINIMAL
    loaded = config.load(make_config(text), env={})
    assert loaded.variants["cpu"].distribution == loaded.project.distribution == "demo"


def test_messages_name_the_variable_that_set_a_path(make_config):
    path = make_config()
    loaded = config.load(path, env={"MLC_CI_DIST_DIR": "/tmp/x"})
    assert loaded.set_by("wheel.dist_dir") == "MLC_CI_DIST_DIR (environment)"
    assert loaded.set_by("wheel.ccache_dir") == f"[wheel].ccache_dir in {path}"


ONE_CHANNEL = "needs exactly one of 'source' (the pipeline builds it), 'index'"


@pytest.mark.parametrize(
    ("pair", "key", "fix"),
    [
        ('[pair]\nindex = "https://mlc.ai/wheels"\n', "pair.distribution", "name the runtime"),
        ('[pair]\nlibraries = ["libtvm.so"]\n', "pair.distribution", "name the runtime"),
        (
            '[pair]\ndistribution = "tvm"\nindex = "https://mlc.ai/wheels"\n',
            "pair.libraries",
            "list the libraries the pair provides",
        ),
        ('[pair]\ndistribution = "tvm"\nlibraries = ["libtvm.so"]\n', "pair", ONE_CHANNEL),
        (
            '[pair]\ndistribution = "tvm"\nlibraries = ["libtvm.so"]\nsource = "tvm"\n'
            'index = "https://mlc.ai/wheels"\n',
            "pair",
            ONE_CHANNEL,
        ),
        (
            '[pair]\ndistribution = "tvm"\nlibraries = ["libtvm.so"]\n'
            'find_links = "https://mlc.ai/wheels"\nindex = "https://mlc.ai/wheels"\n',
            "pair",
            ONE_CHANNEL,
        ),
        (
            '[pair]\ndistribution = "tvm"\nlibraries = ["libtvm.so"]\nindex = "mlc.ai"\n',
            "pair.index",
            "not an http(s):// or file:// URL",
        ),
    ],
)
def test_pair_table_problems_name_the_key_and_the_fix(make_config, pair, key, fix):
    path = make_config(MINIMAL + "\n" + pair)
    with pytest.raises(PipelineError) as failed:
        config.load(path, env={})
    assert str(failed.value).startswith(f"{path}: '{key}' ") and fix in str(failed.value)


def test_a_pair_from_a_flat_page_loads(make_config):
    pair = '[pair]\ndistribution = "tvm"\nlibraries = ["libtvm.so"]\nfind_links = "file:///w/"\n'
    loaded = config.load(make_config(MINIMAL + "\n" + pair), env={})
    assert loaded.pair.find_links == "file:///w/" and not loaded.pair.index


def test_no_pair_table_is_no_pair(make_config):
    assert not config.load(make_config(), env={}).pair.enabled


TWO_VARIANTS = MINIMAL + '\n[variants.vulkan]\ndistribution = "demo-vulkan"\n'


def test_the_variant_asked_for_in_the_environment_is_kept_apart(make_config):
    path = make_config(TWO_VARIANTS)
    asked = config.load(path, env={"MLC_CI_VARIANT": "vulkan"})
    assert (asked.default_variant, asked.variant_requested) == ("vulkan", "vulkan")
    plain = config.load(path, env={})
    assert (plain.default_variant, plain.variant_requested) == ("cpu", "")
    assert (plain.schema, plain.path) == (1, path.resolve())
    with pytest.raises(PipelineError) as failed:
        config.load(path, env={"MLC_CI_VARIANT": "cu999"})
    assert str(failed.value) == (
        f"unknown variant 'cu999' from MLC_CI_VARIANT (environment); {path.resolve()} defines: "
        "cpu, vulkan (set MLC_CI_VARIANT to one of them, or unset it)."
    )


def test_an_override_with_a_nul_byte_is_refused(make_config):
    with pytest.raises(PipelineError) as failed:
        config.load(make_config(), env={"MLC_CI_NETWORK": "host\x00"})
    assert str(failed.value) == "MLC_CI_NETWORK (environment) holds a NUL byte; fix its value."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MINIMAL.split("[variants.cpu]", maxsplit=1)[0],
            "no [variants.<name>] tables; define at least one variant.",
        ),
        (MINIMAL + "\n[variants]\nx = 1\n", "every entry under [variants] must be a table."),
        (
            MINIMAL + '\n[variants.gpu]\ndistribution = "demo-cpu"\n',
            "variants cpu and gpu both build demo-cpu; give each its own 'distribution' "
            "(e.g. demo-cpu-gpu).",
        ),
        (MINIMAL + "\n[bogus]\n", "unknown key 'bogus'; known keys here are "),
    ],
)
def test_variant_tables_problems_are_exact(make_config, text, message):
    path = make_config(text)
    with pytest.raises(PipelineError) as failed:
        config.load(path, env={})
    assert str(failed.value).startswith(f"{path.resolve()}: {message}")


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "[wheel]\nfrontend = 'poetry'\n",
            "'wheel.frontend' is 'poetry'; use one of: pip, build, uv",
        ),
        (
            "[image]\nbuilder = 'kaniko'\n",
            "'image.builder' is 'kaniko'; use one of: auto, buildx, buildkit",
        ),
        (
            "[scan]\nseverity = 'HIGH, severe'\n",
            "'scan.severity' names unknown severity ' severe'; use a comma-separated subset of "
            "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL",
        ),
        (
            "[image]\nsize_budget_mb = { ci = true }\n",
            "'image.size_budget_mb.ci' must be an integer, not True; fix the value",
        ),
        (
            "[image]\nsize_budget_mb = 3\n",
            "'image.size_budget_mb' must be a table, not 3; fix the value",
        ),
        (
            "[variants.x]\ndistribution = 'x'\nconfig = { A = [1] }\n",
            "'variants.x.config.A' must be a boolean, integer or string, not [1]; fix the value",
        ),
        (
            "[variants.x]\ndistribution = 3\n",
            "'variants.x.distribution' must be a str, not 3; fix the value",
        ),
        (
            "[lint]\npaths = ['src', 1]\n",
            "'lint.paths' must be an array of strings, not ['src', 1]; fix the value",
        ),
        (
            "[wheel]\nplat = 'manylinux_2_28'\n",
            "'wheel.plat' is 'manylinux_2_28', not an auditwheel platform; use auto, "
            "manylinux_X_Y_<arch> (e.g. manylinux_2_28_x86_64), musllinux_X_Y_<arch> or "
            "linux_<arch>",
        ),
    ],
)
def test_bad_values_get_exactly_one_sentence(make_config, snippet, message):
    path = make_config(MINIMAL + snippet)
    with pytest.raises(PipelineError) as caught:
        config.load(path, env={})
    assert str(caught.value) == f"{path}: {message}."


def test_a_bad_override_is_blamed_on_its_variable_exactly(make_config):
    path = make_config()
    with pytest.raises(PipelineError) as caught:
        config.load(path, env={"MLC_CI_SCAN_SEVERITY": "HIGH,NOPE"})
    assert str(caught.value) == (
        "MLC_CI_SCAN_SEVERITY (environment) names unknown severity 'NOPE'; use a "
        "comma-separated subset of UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL."
    )
    assert config.load(path, env={"MLC_CI_SCAN_SEVERITY": " high ,critical"}).scan.severity


def refused(cfg) -> str:
    """Why require_source refuses this configuration's source."""
    with pytest.raises(PipelineError) as caught:
        config.require_source(cfg)
    return str(caught.value)


def test_the_source_checks_say_exactly_what_to_do(make_config, tmp_path):
    path = make_config(source=False)
    source = tmp_path / "src-tree"
    cfg = config.load(path, env={})
    assert refused(cfg) == (
        f"source directory {source} does not exist; set [project].source in {path}, or point "
        "MLC_CI_SOURCE / --config at another source."
    )
    elsewhere = tmp_path / "nope"
    assert refused(config.load(path, env={"MLC_CI_SOURCE": str(elsewhere)})) == (
        f"source directory {elsewhere} (from MLC_CI_SOURCE, environment) does not exist; point "
        "MLC_CI_SOURCE at the source, or unset it."
    )
    # An existing source named by MLC_CI_SOURCE is checked like any other.
    source.mkdir()
    assert "has no CMakeLists.txt" in refused(config.load(path, env={"MLC_CI_SOURCE": str(source)}))
    # An empty directory that no .gitmodules names is not an uninitialised submodule.
    (tmp_path / ".gitmodules").write_text(
        '[submodule "x"]\n\tpath = other\n\turl = https://example.invalid/x\n# path\n',
        encoding="utf-8",
    )
    assert refused(cfg) == (
        f"{source} has no CMakeLists.txt, so it is not an MLC-LLM-shaped project; point "
        "MLC_CI_SOURCE / --config at a source with CMakeLists.txt and pyproject.toml."
    )
    (tmp_path / ".gitmodules").write_text('[submodule "x"]\n  path= src-tree \n', encoding="utf-8")
    assert refused(cfg) == (
        f"submodule {source} is not initialised; run `git submodule update --init --recursive`, "
        "or point MLC_CI_SOURCE / --config at another source."
    )
    (source / "CMakeLists.txt").write_text("", encoding="utf-8")
    assert refused(cfg).startswith(f"{source} has no pyproject.toml, so it is not")


WINDOWS_CUDA = (
    '\n[variants.cu128]\ndistribution = "demo-cu128"\ncuda = "12.8"\nwindows = true\n'
    "[variants.cu128.windows_cuda]\n"
)
GOOD_INSTALLER = 'installer = "https://example.invalid/cuda_12.8_windows_network.exe"\n'
GOOD_SHA = f'sha256 = "{"0" * 64}"\n'


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'installer = "http://example.invalid/cuda.exe"\n',
            "'variants.cu128.windows_cuda.installer' is 'http://example.invalid/cuda.exe'; give "
            "the https:// URL of NVIDIA's Windows installer (.exe)",
        ),
        (
            GOOD_INSTALLER + 'sha256 = "ABC"\n',
            "'variants.cu128.windows_cuda.sha256' is not 64 lowercase hex digits; give the "
            "installer's sha256 (certutil -hashfile <installer> SHA256)",
        ),
        (
            GOOD_INSTALLER + GOOD_SHA,
            "'variants.cu128.windows_cuda.components' must name the installer's subpackages "
            'without their version suffix (e.g. ["nvcc", "cudart", "cublas_dev"])',
        ),
        (
            GOOD_INSTALLER + GOOD_SHA + 'components = ["nvcc", "Cudart"]\n',
            "'variants.cu128.windows_cuda.components' must name the installer's subpackages "
            'without their version suffix (e.g. ["nvcc", "cudart", "cublas_dev"])',
        ),
    ],
)
def test_the_windows_cuda_table_messages_are_exact(make_config, table, message):
    path = make_config(MINIMAL + WINDOWS_CUDA + table)
    with pytest.raises(PipelineError) as caught:
        config.load(path, env={})
    assert str(caught.value) == f"{path}: {message}."


def test_a_windows_cuda_table_needs_a_cuda_variant_built_for_windows(make_config):
    table = GOOD_INSTALLER + GOOD_SHA + 'components = ["nvcc"]\n'
    assert config.load(make_config(MINIMAL + WINDOWS_CUDA + table), env={}).variant("cu128")
    for old, new in (('cuda = "12.8"\n', ""), ("windows = true", "windows = false")):
        path = make_config(MINIMAL + WINDOWS_CUDA.replace(old, new) + table)
        with pytest.raises(PipelineError) as caught:
            config.load(path, env={})
        assert str(caught.value) == (
            f"{path}: 'variants.cu128.windows_cuda' is set, but the variant builds no CUDA for "
            'Windows (it needs cuda = "X.Y" and windows = true); remove it.'
        )


def test_the_resolved_view_names_its_file_and_hides_the_cache_password(make_config):
    path = make_config()
    cfg = config.load(path, env={"MLC_CI_CACHE_REMOTE": "redis://:s3cret@127.0.0.1:6379/0"})
    data = cfg.to_dict()
    assert data["path"] == str(path)
    assert data["cache"]["remote"] == "redis://:***@127.0.0.1:6379/0"
    assert "s3cret" not in json.dumps(data, default=str)


def test_a_config_is_named_by_the_flag_the_variable_or_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not config.config_named(None, {})
    assert config.config_named("x.toml", {})
    assert config.config_named(None, {"MLC_CI_CONFIG": "x.toml"})
    assert not config.config_named(None, {"MLC_CI_CONFIG": " "})  # blank: unset
    assert config.config_named("", {})  # given, so that load refuses it
    (tmp_path / "pipeline.toml").write_text("", encoding="utf-8")
    assert config.config_named(None, {})
