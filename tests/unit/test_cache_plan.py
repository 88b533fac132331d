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
    assert cache.endpoint("redis://h/0") == ("redis", "h", 6379)
    assert cache.endpoint("redis:///0") == ("redis", "localhost", 6379)


def test_config_reads_the_cache_section_and_its_overrides(make_config):
    cfg = config.load(
        make_config(), env={"MLC_CI_CACHE_REMOTE": URL, "MLC_CI_CACHE_READ_ONLY": "yes"}
    )
    assert (cfg.cache.remote, cfg.cache.read_only) == (URL, True)
    with pytest.raises(PipelineError, match="MLC_CI_CACHE_READ_ONLY .environment. is 'maybe'"):
        config.load(make_config(), env={"MLC_CI_CACHE_READ_ONLY": "maybe"})
    with pytest.raises(PipelineError, match=r"MLC_CI_CACHE_REMOTE \(environment\) 'gha'"):
        config.load(make_config(), env={"MLC_CI_CACHE_REMOTE": "gha"})


# `ccache --show-stats` (ccache 4.8) as a BuildKit build log prints it: `#N seconds ` prefixes.
STATS_LOCAL = """\
#9 12.5 Cacheable calls:    3 /    4 (75.00%)
#9 12.5   Hits:             2 /    3 (66.67%)
#9 12.5     Direct:         2 /    2 (100.0%)
#9 12.5   Misses:           1 /    3 (33.33%)
#9 12.5 Uncacheable calls:  1 /    4 (25.00%)
#9 12.5 Local storage:
#9 12.5   Cache size (GB): 0.00 / 5.00 ( 0.00%)
#9 12.5   Hits:             9 /    9 (100.0%)
#9 12.5   Misses:           0 /    9 ( 0.00%)
"""
STATS_REMOTE = """\
#14 61 Cacheable calls:   52 /   52 (100.0%)
#14 61   Hits:            40 /   52 (76.92%)
#14 61   Misses:          12 /   52 (23.08%)
#14 61 Local storage:
#14 61   Hits:             1 /   52 ( 1.92%)
#14 61   Misses:          51 /   52 (98.08%)
#14 61 Remote storage:
#14 61   Hits:            39 /   51 (76.47%)
#14 61   Misses:          12 /   51 (23.53%)
"""


def test_show_stats_reads_the_last_block_with_its_remote_storage():
    log = "Hits: 7\n#1 0.1 building\n" + STATS_LOCAL + "#10 DONE 0.2s\n" + STATS_REMOTE
    assert cache.show_stats(log) == {
        "hits": 40,
        "misses": 12,
        "remote": {"hits": 39, "misses": 12},
    }


def test_show_stats_of_a_local_cache_has_no_remote():
    # Local storage's own hits and misses are not the build's.
    assert cache.show_stats("noise\n" + STATS_LOCAL) == {"hits": 2, "misses": 1, "remote": None}
    plain = "\n".join(line.split(" ", 2)[2] for line in STATS_LOCAL.splitlines())
    assert cache.show_stats(plain) == {"hits": 2, "misses": 1, "remote": None}


def test_show_stats_without_a_block_is_none():
    assert cache.show_stats("") is None
    assert cache.show_stats("Hits: 3\nMisses: 4\nLocal storage:\nRemote storage:\n") is None
    # A remote section with no numbers yet keeps its zeros.
    assert cache.show_stats("Cacheable calls: 0 / 0\nRemote storage:\n  Hits:\n") == {
        "hits": 0,
        "misses": 0,
        "remote": {"hits": 0, "misses": 0},
    }


PUSH_MAIN = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}


@pytest.mark.parametrize(
    ("remote", "read_only", "env", "forced", "expected"),
    [
        ("", False, PUSH_MAIN, "", ("", "off", "no shared cache configured ([cache].remote)")),
        (URL, False, PUSH_MAIN, "read-only", (URL, "read-only", "read-only (MLC_CI_CACHE_MODE)")),
        (
            URL,
            False,
            {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.0.0"},
            "",
            (URL, "off", "tag builds compile without the shared cache"),
        ),
        (
            URL,
            False,
            {"GITHUB_EVENT_NAME": "pull_request_target", "GITHUB_REF": "refs/heads/main"},
            "",
            (URL, "read-only", "pull requests only read the shared cache"),
        ),
        (URL, False, PUSH_MAIN, "", (URL, "read-write", "a push to main writes")),
        (URL, True, PUSH_MAIN, "", (URL, "read-only", "only pushes to main write (push)")),
        (
            URL,
            False,
            {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main"},
            "",
            (URL, "read-only", "only pushes to main write (workflow_dispatch)"),
        ),
        (URL, True, {}, "", (URL, "read-only", "[cache].read_only on this machine")),
        (URL, False, {}, "", (URL, "read-write", "a maintainer's machine writes")),
    ],
)
def test_each_trust_rule_says_why(remote, read_only, env, forced, expected):
    use = cache.decide(remote, read_only, env, "main", forced)
    assert (use.remote, use.mode, use.why) == expected


def test_scheme_problem_messages_are_exact():
    assert cache.scheme_problem("s3://bucket/x") == (
        "'s3://bucket/x' is not a ccache remote storage URL; use redis://HOST:PORT, "
        "redis+unix:/PATH, http://HOST/PATH or file:///DIR ('' for none)"
    )
    assert cache.scheme_problem("redis").startswith("'redis' is not a ccache remote storage URL")
    assert cache.scheme_problem("redis://h:1:2") == ""
    assert cache.scheme_problem(URL + "|read-only=true") == (
        "holds ccache attributes ('|...'); give the URL only and use [cache].read_only"
    )
