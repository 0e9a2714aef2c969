"""The layer's requirements (what Lambda gets) and the project's runtime dependencies (what the venv gets) agree."""

import tomllib

from local.template import ROOT


def _pins(lines):
    return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}


def test_layer_requirements_are_the_projects_runtime_dependencies():
    layer = _pins((ROOT / "layers/common/requirements.txt").read_text().splitlines())
    project = _pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert layer == project - {p for p in project if p.startswith("boto3")}  # boto3 ships with the Lambda runtime


def test_the_client_depends_on_requests_only():
    client = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in client["dependencies"]] == ["requests"]
    assert client["requires-python"] == ">=3.9"


def test_the_clients_raw_ceiling_is_the_servers():
    from mailrelay_client.client import RAW_MESSAGE_CEILING

    from mailrelay.limits import ceiling

    assert ceiling("message/rfc822") == RAW_MESSAGE_CEILING
