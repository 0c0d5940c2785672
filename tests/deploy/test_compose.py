"""docker-compose.yml, its CPU override and the proxy's nginx configuration."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CPU_OVERRIDE = ROOT / "docker-compose.cpu.yml"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"

Service = dict[str, Any]


class _Reset:
    """Compose's ``!reset`` tag: the key is dropped from the merged file."""


class _ComposeLoader(yaml.SafeLoader):
    pass


_ComposeLoader.add_constructor("!reset", lambda loader, node: _Reset())
_ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: (
        loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node, deep=True)
    ),
)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_ComposeLoader)
    return document


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file: mappings merge key by key, `!reset` removes."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, _Reset):
                merged.pop(key, None)
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def cpu_compose(compose: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = _merge(compose, _load(CPU_OVERRIDE))
    return merged


@pytest.fixture(scope="module")
def api(compose: dict[str, Any]) -> Service:
    service: Service = compose["services"]["api"]
    return service


def _environment(service: Service) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_api_reserves_a_gpu(api: Service) -> None:
    devices = api["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)
    assert all(device.get("driver", "nvidia") == "nvidia" for device in devices)


def test_api_builds_the_gpu_variant_of_the_dockerfile(api: Service) -> None:
    build = api["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    assert build["args"]["VARIANT"] == "gpu"


def test_api_uses_the_compose_redis_and_waits_for_it(compose: dict[str, Any], api: Service) -> None:
    url = _environment(api)["NMT_REDIS_URL"]
    match = re.fullmatch(r"redis://(?P<host>[\w-]+):(?P<port>\d+)/\d+", url)
    assert match, url
    assert match["host"] in compose["services"]
    assert match["port"] == "6379"
    assert api["depends_on"][match["host"]]["condition"] == "service_healthy"


def test_api_healthcheck_asks_for_readiness(api: Service) -> None:
    test = " ".join(api["healthcheck"]["test"])
    assert "/health/ready" in test
    assert "curl" not in test  # the image has no curl


def test_api_publishes_no_host_port_so_it_can_scale(compose: dict[str, Any], api: Service) -> None:
    """`--scale api=3` fails when each replica binds the same host port; the proxy holds it."""
    assert "ports" not in api
    assert "container_name" not in api
    proxy = compose["services"]["proxy"]
    assert len(proxy["ports"]) == 1
    assert proxy["ports"][0].endswith(":8080")
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"


def test_proxy_mounts_the_nginx_template(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    source, target, *_ = proxy["volumes"][0].split(":")
    assert (ROOT / source).resolve() == NGINX_TEMPLATE
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".template")
    assert proxy["environment"]["NGINX_ENTRYPOINT_LOCAL_RESOLVERS"] == "1"


def test_api_root_is_read_only_with_writable_state(compose: dict[str, Any], api: Service) -> None:
    assert api["read_only"] is True
    assert "/tmp" in api["tmpfs"]
    volume, mount = api["volumes"][0].split(":")[:2]
    assert mount == "/var/lib/nmt"
    assert volume in compose["volumes"], "a named volume keeps the image's owner (uid 10001)"


def test_redis_is_persistent_and_healthchecked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    volume, mount = redis["volumes"][0].split(":")[:2]
    assert mount == "/data"
    assert volume in compose["volumes"]


def test_cpu_override_builds_the_cpu_image_without_a_gpu(cpu_compose: dict[str, Any]) -> None:
    api = cpu_compose["services"]["api"]
    assert api["build"]["args"]["VARIANT"] == "cpu"
    assert "deploy" not in api
    assert "gpu" not in str(api)
    assert _environment(api)["NMT_DEVICE"] == "cpu"
    # What the override does not touch is kept.
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert _environment(api)["NMT_REDIS_URL"].startswith("redis://redis:")


def test_nginx_template_balances_over_the_api_service() -> None:
    text = NGINX_TEMPLATE.read_text()
    assert "resolver ${NGINX_LOCAL_RESOLVERS}" in text
    assert re.search(r"set \$\w+ http://api:8000;", text)
    assert re.search(r"proxy_pass \$\w+;", text), "a variable makes nginx re-resolve replicas"


def test_nginx_accepts_the_rendered_template(tmp_path: Path) -> None:
    nginx = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
    if nginx is None:
        pytest.skip("nginx not installed: apt-get install nginx")
    rendered = NGINX_TEMPLATE.read_text().replace("${NGINX_LOCAL_RESOLVERS}", "127.0.0.11")
    (tmp_path / "default.conf").write_text(rendered)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{ access_log off; include {tmp_path}/default.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
