"""The command line as a user runs it: real processes, real SQLite in a temporary DATA_DIR."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from grok2api import fakegrok


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
    full_env.update({"DATA_DIR": str(tmp_path)}, **(env or {}))
    return subprocess.run([sys.executable, "-m", "grok2api", *args], env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_config_check_names_bad_key(tmp_path: Path) -> None:
    res = run_cli(tmp_path, "config", "check", env={"GROK2API_SECURITY_RATE_LIMIT_PER_MINUTE": "abc"})
    assert res.returncode != 0
    assert "security.rate_limit_per_minute = 'abc': must be an integer" in res.stderr


def test_config_check_ok_and_warns_on_unknown_env(tmp_path: Path) -> None:
    res = run_cli(tmp_path, "config", "check", env={"GROK2API_CHAT_NOPE": "1"})
    assert res.returncode == 0, res.stderr
    assert "GROK2API_CHAT_NOPE names no configuration key" in res.stderr


def test_config_show_redacts_secrets(tmp_path: Path) -> None:
    res = run_cli(tmp_path, "config", "show", env={"GROK2API_APP_API_KEY": "sk-very-secret-value-123"})
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["app"]["api_key"] == {"value": "sk-v***", "source": "env"}
    assert "very-secret" not in res.stdout


def test_tokens_add_list_export_import(tmp_path: Path) -> None:
    tok = "eyJhbGciOiJIUzI1NiJ9.cli-test-token-0001"
    res = run_cli(tmp_path, "tokens", "add", "--pool", "super", tok, f"sso={tok}; other=1")
    assert res.returncode == 0, res.stderr
    assert "added 1" in res.stdout  # the cookie form is the same account: stored once
    listed = run_cli(tmp_path, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    assert tok not in listed.stdout and "super" in listed.stdout and "1 of 1" in listed.stdout
    exported = run_cli(tmp_path, "tokens", "export")
    data = json.loads(exported.stdout)
    assert [a["token"] for a in data["accounts"]] == [tok]
    other = tmp_path / "other"
    other.mkdir()
    (other / "export.json").write_text(exported.stdout)
    imported = run_cli(other, "tokens", "import", str(other / "export.json"))
    assert imported.returncode == 0, imported.stderr
    assert "added 1" in imported.stdout
    again = run_cli(other, "tokens", "export")
    assert json.loads(again.stdout)["accounts"][0]["pool"] == "super"


def test_keys_create_shows_key_once_and_stores_hash(tmp_path: Path) -> None:
    res = run_cli(tmp_path, "keys", "create", "--name", "ci", "--rpm", "30", "--models", "grok-4,grok-3")
    assert res.returncode == 0, res.stderr
    key = res.stdout.strip()
    assert key.startswith("sk-") and len(key) > 30
    listed = run_cli(tmp_path, "keys", "list")
    assert "ci" in listed.stdout and "rpm=30" in listed.stdout and "grok-4,grok-3" in listed.stdout
    assert key not in listed.stdout
    assert key.encode() not in (tmp_path / "grok2api.db").read_bytes()
    unknown = run_cli(tmp_path, "keys", "create", "--name", "other", "--models", "grok-4,gpt-4o")
    assert unknown.returncode == 2 and "unknown model(s) gpt-4o" in unknown.stderr
    taken = run_cli(tmp_path, "keys", "create", "--name", "CI")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert run_cli(tmp_path, "keys", "list").stdout.count("\n") == 1  # neither was created


def test_admin_password_from_stdin(tmp_path: Path) -> None:
    res = run_cli(tmp_path, "admin", "password", "--password-stdin", stdin="a-long-enough-password\n")
    assert res.returncode == 0, res.stderr
    short = run_cli(tmp_path, "admin", "password", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "at least 8" in short.stderr


@pytest.mark.timeout(90)
def test_serve_first_start_health_and_clean_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
    env.update(DATA_DIR=str(tmp_path), SERVER_PORT=str(port), SERVER_HOST="127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "grok2api"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.1)
        assert status == 200
        assert (tmp_path / "config.toml").exists()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "generated admin password" in err
    assert "stopped" in err


async def test_models_check_compares_the_catalog_with_grok(tmp_path: Path, aiohttp_server: object) -> None:
    """`grok2api models check` asks /rest/modes (the fake's) with an active account (C10)."""
    import asyncio

    from grok2api.fakegrok import make_app as make_fake

    fake = await aiohttp_server(make_fake())  # type: ignore[operator]
    base = str(fake.make_url("")).rstrip("/")
    env = {"GROK2API_NETWORK_GROK_URL": base, "GROK2API_NETWORK_ASSETS_URL": base,
           "GROK2API_NETWORK_ACCOUNTS_URL": base}
    none = await asyncio.to_thread(run_cli, tmp_path, "models", "check", env=env)
    assert none.returncode == 4 and "no active account" in none.stderr
    assert (await asyncio.to_thread(run_cli, tmp_path, "tokens", "add", "basic-cli-token-000000000001",
                                    env=env)).returncode == 0
    agrees = await asyncio.to_thread(run_cli, tmp_path, "models", "check", env=env)
    assert agrees.returncode == 0, agrees.stderr
    assert "catalog agrees with grok.com's modes" in agrees.stdout and "heavy (heavy)" in agrees.stdout
    (tmp_path / "models.toml").write_text(
        '[models."grok-turbo"]\nkind = "chat"\nmode = "turbo"\nmode_id = "turbo"\ncost = 1\nbucket = "fast"\n'
        'min_tier = "basic"\n\n[models."grok-heavy-cheap"]\nkind = "chat"\nmode = "heavy"\nmode_id = "heavy"\n'
        'cost = 1\nbucket = "heavy"\nmin_tier = "super"\n', encoding="utf-8")
    differs = await asyncio.to_thread(run_cli, tmp_path, "models", "check", env=env)
    assert differs.returncode == 1, differs.stderr
    assert "grok-turbo: mode 'turbo' is not offered by grok.com" in differs.stdout
    assert "grok-heavy-cheap: min_tier 'super' but grok.com needs 'heavy'" in differs.stdout


async def test_tokens_add_pool_moves_a_known_token_and_rereads_its_quotas(tmp_path: Path, aiohttp_server: Any) -> None:
    """`tokens add --pool` on a known token used to say "updated" and keep the old pool."""
    fake = await aiohttp_server(fakegrok.make_app())
    url = str(fake.make_url("")).rstrip("/")
    tok = "super-cli-mover-" + "c" * 30
    fake.app[fakegrok.FAKE_STATE].upsert_account(tok, "super", {"fast": {"remaining": 99, "total": 140}})
    env = {"GROK2API_NETWORK_GROK_URL": url, "GROK2API_NETWORK_ACCOUNTS_URL": url}

    async def cli(*args: str) -> tuple[int, str, str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GROK2API_")}
        full_env.update({"DATA_DIR": str(tmp_path), **env})
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "grok2api", *args, env=full_env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await cli("tokens", "add", tok)
    assert code == 0 and "added 1" in out, err
    code, out, err = await cli("tokens", "add", tok)  # no --pool: a known token keeps its pool
    assert code == 0 and "updated 1" in out and "moved" not in out, err
    code, out, err = await cli("tokens", "add", "--pool", "super", tok)
    assert code == 0, err
    assert "updated 1" in out and "moved 1 to pool super; quotas re-read for 1" in out
    code, out, _ = await cli("tokens", "list")
    assert " super " in out and "fast=99/140" in out and tok not in out
