"""The shared compile cache: trust rules, the ccache setting, URL checks and redaction."""

from __future__ import annotations

import pytest

from mlc_ci import config
from mlc_ci.errors import PipelineError
from mlc_ci.plan import cache

URL = "redis://127.0.0.1:6379"


@pytest.mark.parametrize(
    ("env", "read_only", "mode"),
    [
        ({}, False, "read-write"),
        ({}, True, "read-only"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, False, "read-write"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, True, "read-only"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature"}, False, "read-only"),
        (
            {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/1/merge"},
            False,
            "read-only",
        ),
        ({"GITHUB_EVENT_NAME": "pull_request_target"}, False, "read-only"),
        ({"GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main"}, False, "read-only"),
        ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.0.0"}, False, "off"),
    ],
)
def test_trust_rules(env, read_only, mode):
    use = cache.decide(URL, read_only, env, "main")
    assert use.mode == mode and use.why
    expected = {"read-write": URL, "read-only": URL + "|read-only=true", "off": ""}[mode]
    assert use.ccache_setting == expected


def test_no_remote_and_forced_mode():
    assert cache.decide("", False, {}, "main").mode == "off"
    forced = cache.decide(URL, False, {"GITHUB_REF": "refs/tags/v1.0.0"}, "main", "read-only")
    assert forced.mode == "read-only" and "MLC_CI_CACHE_MODE" in forced.why


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", ""),
        (URL, ""),
        ("http://cache.example.invalid/ccache", ""),
        ("gha", "is not a ccache remote storage URL"),
        ("s3://bucket", "is not a ccache remote storage URL"),
        (URL + "|read-only=true", "use [cache].read_only"),
    ],
)
def test_scheme_problems(url, problem):
    found = cache.scheme_problem(url)
    assert (problem in found) if problem else found == ""


def test_passwords_never_show():
    assert cache.url_for_display("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert cache.url_for_display("redis://s3cret@host") == "redis://:***@host"
    assert cache.url_for_display("http://user:pw@host/c") == "http://user:***@host/c"
    assert cache.url_for_display(URL) == URL
    assert cache.redis_password("redis://:s3cret@host") == "s3cret"
    assert cache.redis_password("redis://s3cret@host") == "s3cret"
    assert cache.redis_password(URL) == ""
    assert cache.endpoint("redis://h:1234") == ("redis", "h", 1234)
    assert cache.endpoint("http://h/x") == ("http", "h", 80)


def test_config_reads_the_cache_section_and_its_overrides(make_config):
    cfg = config.load(
        make_config(), env={"MLC_CI_CACHE_REMOTE": URL, "MLC_CI_CACHE_READ_ONLY": "yes"}
    )
    assert (cfg.cache.remote, cfg.cache.read_only) == (URL, True)
    with pytest.raises(PipelineError, match="MLC_CI_CACHE_READ_ONLY .environment. is 'maybe'"):
        config.load(make_config(), env={"MLC_CI_CACHE_READ_ONLY": "maybe"})
    with pytest.raises(PipelineError, match=r"MLC_CI_CACHE_REMOTE \(environment\) 'gha'"):
        config.load(make_config(), env={"MLC_CI_CACHE_REMOTE": "gha"})
