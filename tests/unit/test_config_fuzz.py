"""Fuzzing the config loader: no generated pipeline.toml or MLC_CI_* environment gives a
traceback; every outcome is a Config or one PipelineError (bounded: a few hundred examples)."""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlc_ci import config, host
from mlc_ci.errors import PipelineError
from tests.conftest import MINIMAL

SECTIONS = {
    name: [f.name for f in dataclasses.fields(cls)]
    for name, cls in config._SECTIONS.items()  # pylint: disable=protected-access
}
VARIANT_KEYS = [f.name for f in dataclasses.fields(config.Variant)]
# Under `nox -s mutants` (mutmut sets MUTANT_UNDER_TEST) a failing example only has to be
# found, not shrunk to the smallest one: shrinking a mutant's failure took most of the run.
PHASES = tuple(Phase) if not os.environ.get("MUTANT_UNDER_TEST") else (Phase.reuse, Phase.generate)
BOUNDED = settings(
    max_examples=300,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 5),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(datetime.date(2026, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def table(keys: list[str]):
    """A TOML table with mostly known keys and some unknown ones."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8))
    return st.dictionaries(key, values, max_size=5)


documents = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.one_of(st.just(1), values),
        **{name: st.one_of(table(keys), values) for name, keys in SECTIONS.items()},
        "variants": st.one_of(
            st.dictionaries(
                st.text(max_size=6), st.one_of(table(VARIANT_KEYS), values), max_size=3
            ),
            values,
        ),
    },
)
environments = st.dictionaries(
    st.sampled_from([*config.ENV_OVERRIDES, "MLC_CI_VARIANT"]), st.text(max_size=10), max_size=3
)


@BOUNDED
@given(raw=documents, env=environments)
def test_generated_documents_never_raise_anything_else(raw, env):
    try:
        result = config.parse(raw, Path("/nonexistent/pipeline.toml"), env)
    except PipelineError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
    else:
        assert isinstance(result, config.Config)
        assert result.to_dict()["source_dir"]  # the derived paths resolve too


@BOUNDED
@given(
    cut=st.integers(0, len(MINIMAL)),
    junk=st.text(max_size=20),
    env=environments,
)
def test_mangled_files_never_raise_anything_else(tmp_path, cut, junk, env):
    path = tmp_path / "pipeline.toml"
    path.write_text(MINIMAL[:cut] + junk + MINIMAL[cut:], encoding="utf-8", errors="replace")
    try:
        config.load(path, env)
    except PipelineError as exc:
        assert str(exc).strip()


@BOUNDED
@given(jobs=st.text(max_size=6), epoch=st.text(max_size=12))
def test_variables_read_after_loading_never_raise_anything_else(jobs, epoch):
    # MLC_CI_JOBS and SOURCE_DATE_EPOCH are read by the sessions, not by the loader.
    for read, env in (
        (host.jobs, {"MLC_CI_JOBS": jobs}),
        (host.epoch_override, {"SOURCE_DATE_EPOCH": epoch}),
    ):
        try:
            value = read(env)
        except PipelineError as exc:
            assert "\n" not in str(exc) and "(environment) is" in str(exc)
        else:
            assert value is None or (isinstance(value, int) and value >= 0)
