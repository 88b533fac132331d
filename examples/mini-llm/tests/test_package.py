"""The installed mini_llm package: native libraries, computation, loader errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import mini_llm
from mini_llm import _loader, _reference


def test_core_libraries_are_beside_the_package():
    """The three core libraries are in the package directory."""
    for name in _loader.CORE_LIBRARIES:
        path = _loader.find_library(name)
        assert path is not None and path.parent == Path(mini_llm.__file__).resolve().parent


def test_native_version_is_the_release_part_of_the_package_version():
    """CMake takes the libraries' version from the (stamped) pyproject.toml line the wheel's
    version came from, cut to its release part: 0.2.1.dev3 gives 0.2.1."""
    match = re.match(r"\d+\.\d+(\.\d+)?", mini_llm.__version__)
    assert match, f"package version {mini_llm.__version__!r} has no release part"
    assert mini_llm.native_version() == match.group(0)
    # The vendored runtime keeps its own version (its CMake project's), as TVM does.
    assert re.fullmatch(r"\d+\.\d+\.\d+", mini_llm.runtime_version())


def test_tokenize_matches_golden_ids():
    """Token ids are FNV-1a hashes of lower-cased alphanumeric runs."""
    # FNV-1a("hello") % 32000, FNV-1a("world") % 32000, FNV-1a("42") % 32000
    assert mini_llm.tokenize("Hello, WORLD 42!") == [
        _reference.fnv1a32(b"hello") % 32000,
        _reference.fnv1a32(b"world") % 32000,
        _reference.fnv1a32(b"42") % 32000,
    ]
    assert _reference.fnv1a32(b"hello") == 0x4F9F2CAB  # published FNV-1a test vector
    assert not mini_llm.tokenize(" ,;! ")


@pytest.mark.parametrize(
    "text", ["", "one", "The quick brown fox jumps over the lazy dog", "ünïcode ok 123"]
)
def test_score_matches_reference(text):
    """The native score equals the pure-Python statement of it."""
    assert mini_llm.score(text) == pytest.approx(_reference.score(text), abs=1e-12)
    assert 0.0 <= mini_llm.score(text) < 1.0


def test_module_invokes_registered_functions():
    """libmini_llm_module reaches libmini_llm through the runtime registry."""
    assert {"mini_llm.score", "mini_llm.count_tokens"} <= set(mini_llm.list_functions())
    assert mini_llm.invoke("mini_llm.score", "a b c") == mini_llm.score("a b c")
    assert mini_llm.invoke("mini_llm.count_tokens", "a b c") == 3.0


def test_unknown_function_raises_with_native_message():
    """Native errors surface as MiniLLMError with the runtime's message."""
    with pytest.raises(mini_llm.MiniLLMError, match="no function registered as 'nope'"):
        mini_llm.invoke("nope", "x")


def test_build_info_lists_backends():
    """build_info() describes the compiled-in backends consistently."""
    info = mini_llm.build_info()
    assert info["version"] == mini_llm.native_version()
    assert info["backends"]["cpu"] is True
    assert isinstance(info["backends"]["cuda"], bool)
    assert (info["cuda"] is None) == (not info["backends"]["cuda"])


def test_package_version_comes_from_installed_distribution():
    """The version is read from the installed distribution, whatever its name."""
    name = mini_llm.distribution_name()
    assert name is not None and name.replace("_", "-").startswith("mini-llm")
    from importlib import metadata  # pylint: disable=import-outside-toplevel

    assert mini_llm.__version__ == metadata.version(name)


def test_missing_library_error_names_file_and_directory(tmp_path):
    """A missing library is an ImportError naming the file and the directory."""
    with pytest.raises(ImportError) as info:
        _loader.load_library("mini_llm", tmp_path)
    assert _loader.library_filenames("mini_llm")[0] in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_unloadable_library_error_names_path(tmp_path):
    """A library that fails to load is an ImportError naming its path."""
    bogus = tmp_path / _loader.library_filenames("mini_llm")[0]
    bogus.write_bytes(b"not a shared library")
    with pytest.raises(ImportError, match=re.escape(str(bogus))):
        _loader.load_library("mini_llm", tmp_path)


@pytest.mark.parametrize(
    "platform, names",
    [
        ("linux", ("libmini_llm.so",)),
        ("win32", ("libmini_llm.dll", "mini_llm.dll")),
        ("darwin", ("libmini_llm.dylib", "libmini_llm.so")),
    ],
)
def test_library_filenames_per_platform(platform, names):
    """File names follow CMake's defaults per platform (MinGW and MSVC on Windows)."""
    assert _loader.library_filenames("mini_llm", platform) == names


def test_windows_names_are_found(tmp_path):
    """MSVC-style names are found on Windows only."""
    (tmp_path / "mini_llm.dll").write_bytes(b"")
    assert _loader.find_library("mini_llm", tmp_path, "win32") == tmp_path / "mini_llm.dll"
    assert _loader.find_library("mini_llm", tmp_path, "linux") is None


def test_cuda_runtime_name_follows_cuda_major():
    """The CUDA runtime file name carries the CUDA major version."""
    assert _loader.cuda_runtime_filename("13.0.88", "linux") == "libcudart.so.13"
    assert _loader.cuda_runtime_filename("12.8.1", "win32") == "cudart64_12.dll"


def test_import_does_not_load_cuda():
    """Importing mini_llm loads neither the CUDA module nor a CUDA library."""
    code = (
        "import sys, mini_llm; print('mini_llm.cuda' in sys.modules); "
        "print(any('cuda' in l for l in open('/proc/self/maps')) if sys.platform == 'linux' "
        "else False)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "False"]


def test_the_runtime_comes_from_its_own_wheel():
    """libtiny_runtime is loaded from the tiny_runtime package, never shipped in mini_llm."""
    import tiny_runtime  # pylint: disable=import-outside-toplevel

    package = Path(mini_llm.__file__).resolve().parent
    assert tiny_runtime.library_path().parent != package
    assert _loader.find_library("tiny_runtime", package) is None
    assert tiny_runtime.version() == mini_llm.runtime_version()
