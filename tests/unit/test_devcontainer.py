"""The dev container: valid devcontainer.json that builds the Dockerfile's development stage.

No package on PyPI, npm or Debian ships the official devcontainer.json schema (it lives in the
devcontainers/spec repository, which build machines cannot reach), so SCHEMA below restates the
documented properties (containers.dev, "devcontainer.json reference") as JSON Schema: every
top-level key the reference defines, and the exact shapes of the ones this file uses. A typo'd
key or a wrong type fails like it would against the official schema.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

pytestmark = pytest.mark.unit

_COMMAND = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        {
            "type": "object",
            "additionalProperties": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
    ]
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_ENV = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
_SIZE = {"type": "string", "pattern": r"^\d+([tgmk]b)?$"}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "anyOf": [
        {"required": ["image"]},
        {"required": ["build"]},
        {"required": ["dockerComposeFile"]},
    ],
    "properties": {
        "$schema": {"type": "string"},
        "name": {"type": "string"},
        "image": {"type": "string"},
        "build": {
            "type": "object",
            "additionalProperties": False,
            "required": ["dockerfile"],
            "properties": {
                "dockerfile": {"type": "string"},
                "context": {"type": "string"},
                "target": {"type": "string"},
                "args": {"type": "object", "additionalProperties": {"type": "string"}},
                "cacheFrom": {"oneOf": [{"type": "string"}, _STRINGS]},
                "options": _STRINGS,
            },
        },
        "dockerComposeFile": {"oneOf": [{"type": "string"}, _STRINGS]},
        "service": {"type": "string"},
        "runServices": _STRINGS,
        "appPort": {},
        "forwardPorts": {"type": "array", "items": {"type": ["integer", "string"]}},
        "portsAttributes": {"type": "object"},
        "otherPortsAttributes": {"type": "object"},
        "runArgs": _STRINGS,
        "workspaceMount": {"type": "string"},
        "workspaceFolder": {"type": "string"},
        "mounts": {"type": "array", "items": {"type": ["string", "object"]}},
        "containerEnv": {"type": "object", "additionalProperties": {"type": "string"}},
        "remoteEnv": _ENV,
        "containerUser": {"type": "string"},
        "remoteUser": {"type": "string"},
        "updateRemoteUserUID": {"type": "boolean"},
        "userEnvProbe": {
            "enum": ["none", "interactiveShell", "loginShell", "loginInteractiveShell"]
        },
        "overrideCommand": {"type": "boolean"},
        "shutdownAction": {"enum": ["none", "stopContainer", "stopCompose"]},
        "init": {"type": "boolean"},
        "privileged": {"type": "boolean"},
        "capAdd": _STRINGS,
        "securityOpt": _STRINGS,
        "features": {"type": "object"},
        "overrideFeatureInstallOrder": _STRINGS,
        "secrets": {"type": "object"},
        "initializeCommand": _COMMAND,
        "onCreateCommand": _COMMAND,
        "updateContentCommand": _COMMAND,
        "postCreateCommand": _COMMAND,
        "postStartCommand": _COMMAND,
        "postAttachCommand": _COMMAND,
        "waitFor": {
            "enum": [
                "initializeCommand",
                "onCreateCommand",
                "updateContentCommand",
                "postCreateCommand",
                "postStartCommand",
            ]
        },
        "hostRequirements": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpus": {"type": "integer", "minimum": 1},
                "memory": _SIZE,
                "storage": _SIZE,
                "gpu": {
                    "oneOf": [
                        {"type": "boolean"},
                        {"const": "optional"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"cores": {"type": "integer"}, "memory": _SIZE},
                        },
                    ]
                },
            },
        },
        "customizations": {
            "type": "object",
            "properties": {
                "vscode": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "extensions": {
                            "type": "array",
                            "items": {"type": "string", "pattern": r"^-?[\w-]+\.[\w-]+$"},
                        },
                        "settings": {"type": "object"},
                    },
                }
            },
        },
    },
}


@pytest.fixture(name="devcontainer")
def fixture_devcontainer(root):
    return json.loads((root / ".devcontainer" / "devcontainer.json").read_text(encoding="utf-8"))


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_devcontainer_matches_the_schema(devcontainer):
    jsonschema.Draft202012Validator(SCHEMA).validate(devcontainer)


@pytest.mark.parametrize(
    "broken",
    [
        {"postCreateComand": "typo"},
        {"hostRequirements": {"gpu": "maybe"}},
        {"customizations": {"vscode": {"extensions": ["not an id"]}}},
        {"build": {"context": ".."}},
    ],
)
def test_schema_catches_mistakes(devcontainer, broken):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate({**devcontainer, **broken})


def test_builds_the_development_stage(devcontainer, root):
    build = devcontainer["build"]
    dockerfile = (root / ".devcontainer" / build["dockerfile"]).resolve()
    assert dockerfile == root / "docker" / "Dockerfile"
    assert (root / ".devcontainer" / build["context"]).resolve() == root
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text(), flags=re.M | re.I)
    assert build["target"] == "development" and "development" in stages


def test_workspace_tools_and_gpu(devcontainer, root):
    assert devcontainer["workspaceFolder"] == "/workspace"
    assert "target=/workspace" in devcontainer["workspaceMount"]
    assert devcontainer["postCreateCommand"] == ["pip", "install", "-e", ".[lint,test]"]
    assert devcontainer["hostRequirements"] == {"gpu": "optional"}
    assert set(devcontainer["customizations"]["vscode"]["extensions"]) == {
        "ms-python.python",
        "ms-python.black-formatter",
        "ms-python.isort",
        "ms-python.pylint",
    }
    assert devcontainer["containerEnv"]["PYTHONPATH"] == "/workspace/src"
    (script,) = devcontainer["initializeCommand"]
    assert (root / script).is_file()
