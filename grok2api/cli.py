"""Command line: serve (default), fake-grok, config, tokens, keys, admin, models, doctor."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from .access import admin_password as adminauth
from .access import api_keys as apikeys
from .config import settings as settings_mod
from .config.settings import ConfigError, Settings
from .logsetup import setup_logging
from .pool.moves import PoolChange
from .pool.options import PoolConfig
from .storage import make_storage
from .storage.base import AccountQuery, Storage, StorageError

log = logging.getLogger("grok2api")


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="writable data directory (env DATA_DIR, default ./data)")
    p.add_argument("--config", dest="config_file", help="config file (default DATA_DIR/config.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grok2api", description="OpenAI/Anthropic-compatible gateway to Grok")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the gateway (default)")
    _common_options(serve)
    serve.add_argument("--host", help="bind address (env SERVER_HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (env SERVER_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (env SERVER_WORKERS, default 1)")
    serve.add_argument("--demo", action="store_true",
                       help="wire the gateway to a built-in simulated grok.com (binds 127.0.0.1 unless --host says otherwise)")
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    serve.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)

    fake = sub.add_parser("fake-grok", help="run the simulated grok.com used by tests, benchmarks and demos")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=9000, help="port (0 = any free one; the start line names it)")
    fake.add_argument("--replay", metavar="DIR", help="answer requests matching recorded transcripts in DIR "
                                                      "with the recorded answers (the rest is simulated)")
    fake.add_argument("--strict", action="store_true", help="with --replay: 501 for requests nothing recorded matches")
    fake.add_argument("--speed", type=float, default=1.0,
                      help="with --replay: pace factor of recorded timing (1 = as recorded, 0 = no waiting)")

    config = sub.add_parser("config", help="show or check the effective configuration")
    _common_options(config)
    config.add_argument("action", choices=("show", "check"))

    tokens = sub.add_parser("tokens", help="manage the account pool in the configured storage")
    _common_options(tokens)
    tsub = tokens.add_subparsers(dest="action", required=True)
    add = tsub.add_parser("add", help="add tokens given on the command line")
    add.add_argument("--pool", choices=("basic", "super", "heavy"),
                     help="the pool of these tokens, known ones included (their quotas are re-read); "
                          "without it new tokens go to basic and known ones keep their pool")
    add.add_argument("tokens", nargs="+")
    imp = tsub.add_parser("import", help="import a file: one token per line, sso= cookies, or the JSON export")
    imp.add_argument("--pool", default="basic", choices=("basic", "super", "heavy"),
                     help="the pool of new tokens (known ones keep theirs unless the JSON names one)")
    imp.add_argument("file", help="file path, or - for standard input")
    exp = tsub.add_parser("export", help="print every token (JSON keeps pool, tags and note)")
    exp.add_argument("--format", choices=("json", "txt"), default="json")
    lst = tsub.add_parser("list", help="list accounts (tokens masked)")
    lst.add_argument("--pool", default="")
    lst.add_argument("--status", default="")
    lst.add_argument("--limit", type=int, default=100)

    keys = sub.add_parser("keys", help="manage API keys")
    _common_options(keys)
    ksub = keys.add_subparsers(dest="action", required=True)
    create = ksub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--rpm", type=int, default=0, help="requests per minute (0 = unlimited)")
    create.add_argument("--max-concurrent", type=int, default=0)
    create.add_argument("--daily-quota", type=int, default=0)
    create.add_argument("--models", default="", help="comma-separated allowed models (default all)")
    create.add_argument("--expires-days", type=float, default=0.0)
    ksub.add_parser("list", help="list keys (never the secret)")

    admin = sub.add_parser("admin", help="admin account")
    _common_options(admin)
    asub = admin.add_subparsers(dest="action", required=True)
    pw = asub.add_parser("password", help="set the admin password (prompt, or --password-stdin)")
    pw.add_argument("--password-stdin", action="store_true")

    models = sub.add_parser("models", help="the model catalog")
    _common_options(models)
    msub = models.add_subparsers(dest="action", required=True)
    mcheck = msub.add_parser("check", help="compare the catalog's modes and tiers with grok.com's /rest/modes")
    mcheck.add_argument("--pool", choices=["basic", "super", "heavy"], help="ask with an account of this pool")

    doctor = sub.add_parser("doctor", help="check one account against grok.com, step by step")
    _common_options(doctor)
    who = doctor.add_mutually_exclusive_group()
    who.add_argument("--token", help="the SSO token to check ('-' reads it from standard input)")
    who.add_argument("--pool", choices=("basic", "super", "heavy"),
                     help="check the first active account of this pool (default: of any pool)")
    doctor.add_argument("--only", default="", help="comma-separated steps or groups (egress, session, statsig, "
                                                   "limits, modes, chat, upload, media)")
    doctor.add_argument("--media", action="store_true", help="also generate one short video")
    doctor.add_argument("--json", action="store_true", help="print JSON instead of the table")
    doctor.add_argument("--dry-run", action="store_true", help="list every request it would send, send none")
    doctor.add_argument("--capture", metavar="DIR", help="write each upstream exchange, redacted, to DIR")
    return parser


def load_settings(args: argparse.Namespace, **server: Any) -> Settings:
    options = settings_mod.server_options(
        os.environ,
        data_dir=getattr(args, "data_dir", None),
        config_file=getattr(args, "config_file", None),
        **server,
    )
    return settings_mod.load(options)


def with_storage(settings: Settings, fn: Callable[[Storage], Awaitable[int]]) -> int:
    async def run() -> int:
        server = settings.server
        storage = make_storage(server.storage_type, server.storage_url, server.data_dir)
        await storage.open()
        try:
            return await fn(storage)
        finally:
            await storage.close()

    return asyncio.run(run())


def serve_host(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The bind address: --host, else SERVER_HOST, else the default; `--demo` binds 127.0.0.1 unless one
    of those says otherwise (its fake grok.com and demo key are for this machine)."""
    if args.host or environ.get("SERVER_HOST") or not args.demo:
        return str(args.host) if args.host else None
    return "127.0.0.1"


def cmd_serve(args: argparse.Namespace, argv: list[str]) -> int:
    setup_logging(os.environ.get("LOG_LEVEL", "INFO").upper(), args.log_format)
    from . import server as server_mod

    args.host = serve_host(args, os.environ)
    settings = load_settings(args, host=args.host, port=args.port, workers=args.workers, demo=args.demo)
    if args.worker_child:
        server_mod.serve_one(settings, reuse_port=True)
        return 0
    if settings_mod.write_initial_config(settings.server.config_path):
        log.info("wrote %s (commented defaults)", settings.server.config_path)
        settings = load_settings(args, host=args.host, port=args.port, workers=args.workers, demo=args.demo)

    async def first_start(storage: Storage) -> int:
        password = await adminauth.ensure_password(storage, settings.app.app_password)
        if password:
            # Printed once, on purpose: nobody else can ever read it back (only its hash is stored).
            log.warning(
                "generated admin password for user %r: %s  (change it with `grok2api admin password` "
                "or on the admin page)", settings.app.app_username, password)
        return 0

    with_storage(settings, first_start)  # also applies migrations once, before any worker starts
    if settings.server.workers > 1:
        prepare_multiprocess_metrics(settings.server.data_dir)
        return server_mod.serve_workers(settings, argv)
    server_mod.serve_one(settings)
    return 0


def prepare_multiprocess_metrics(data_dir: Path) -> None:
    """Workers share Prometheus samples through mmap files in one fresh directory (set before they start)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = data_dir / ".metrics"
    shutil.rmtree(directory, ignore_errors=True)  # samples of a previous run would be summed in
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def cmd_fake_grok(args: argparse.Namespace) -> int:
    setup_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    from .fakegrok import run
    from .fakegrok.replay import Replay
    from .fakegrok.transcripts import TranscriptStore

    replay = None
    if args.replay:
        directory = Path(args.replay)
        if not directory.is_dir():
            raise ValueError(f"--replay {args.replay}: not a directory")
        replay = Replay(TranscriptStore(directory), speed=args.speed, strict=args.strict)
    elif args.strict or args.speed != 1.0:
        raise ValueError("--strict and --speed only apply with --replay DIR")
    run(args.host, args.port, replay=replay)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args)

    async def show(storage: Storage) -> int:
        overrides = await storage.get_config_overrides()
        effective = settings_mod.with_overrides(settings, overrides)
        out: dict[str, dict[str, Any]] = {}
        for dotted, value in effective.flat().items():
            section, key = dotted.split(".", 1)
            shown = settings_mod.redact(value) if settings_mod.is_secret(dotted) else value
            out.setdefault(section, {})[key] = {"value": shown, "source": effective.sources[dotted]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0

    if args.action == "check":
        unknown = settings_mod.unknown_env(os.environ, settings_mod.load_defaults())
        for name in unknown:
            print(f"warning: {name} names no configuration key and is ignored", file=sys.stderr)
        print(f"configuration OK ({settings.server.config_path})")
        return 0
    return with_storage(settings, show)


async def _reread_moved(storage: Storage, settings: Settings, change: PoolChange) -> None:
    """Accounts `tokens add --pool` moved: re-read their quotas from grok.com now, with the running
    configuration (admin-saved values included); when that fails the server's refresher does it."""
    from .gateway.wiring import upstream_config
    from .pool.moves import reread_quotas
    from .pool.refresher import limits_reader
    from .upstream.client import GrokClient

    live = settings_mod.with_overrides(settings, await storage.get_config_overrides())
    config = PoolConfig.from_settings(live)
    async with GrokClient(upstream_config(live)) as client:
        await reread_quotas(storage, change, limits_reader(client.rate_limits), config=config,
                                     now=time.time())
    print(f"moved {len(change.moved)} to pool {change.pool}; quotas re-read for {len(change.refreshed)}")
    for account_id, error in change.errors.items():
        print(f"  {account_id}: quotas not read now ({error}); the server's refresher reads them", file=sys.stderr)


def cmd_tokens(args: argparse.Namespace) -> int:
    from .pool import ops as pool_ops

    settings = load_settings(args)

    async def run(storage: Storage) -> int:
        if args.action == "add":
            items = pool_ops.parse_import("\n".join(args.tokens))
            if args.pool:  # named on the command line: it applies to known tokens too
                items = [item._replace(pool=args.pool) for item in items]
            result = await pool_ops.add_tokens(storage, items, default_pool=args.pool or "basic",
                                               config=PoolConfig.from_settings(settings))
            result.skipped += len(args.tokens) - len(items)
            print(f"added {result.added}, updated {result.updated}, skipped {result.skipped}")
            if result.repooled:
                await _reread_moved(storage, settings, PoolChange(args.pool, result.repooled))
            return 0
        if args.action == "import":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            result = await pool_ops.import_tokens(storage, text, default_pool=args.pool,
                                                  config=PoolConfig.from_settings(settings))
            print(f"added {result.added}, updated {result.updated}, skipped {result.skipped}")
            return 0
        if args.action == "export":
            accounts = await storage.all_accounts()
            if args.format == "txt":
                for acc in accounts:
                    print(acc.token)
            else:
                print(json.dumps(pool_ops.export_json(accounts), indent=2))
            return 0
        listed, total = await storage.list_accounts(
            AccountQuery(pool=args.pool, status=args.status, limit=args.limit))
        for acc in listed:
            quota = ", ".join(f"{b}={q.remaining}/{q.total}" for b, q in sorted(acc.quota.items()))
            print(f"{acc.id}  {pool_ops.mask_token(acc.token):<16} {acc.pool:<6} {acc.status:<8} "
                  f"{quota}  {','.join(acc.tags)}")
        print(f"{len(listed)} of {total} accounts")
        return 0

    return with_storage(settings, run)


def cmd_keys(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    settings = load_settings(args)

    async def run(storage: Storage) -> int:
        if args.action == "create":
            models = list(dict.fromkeys(m.strip() for m in args.models.split(",") if m.strip()))
            catalog = load_catalog(settings.server.data_dir)
            unknown = [m for m in models if m not in catalog]
            if unknown:
                raise ValueError(f"unknown model(s) {', '.join(unknown)}: --models names models of the catalog "
                                 "(`grok2api models check` and GET /v1/models list them)")
            expires = time.time() + args.expires_days * 86400 if args.expires_days > 0 else 0.0
            new = await apikeys.create_key(
                storage, args.name, allowed_models=models, rpm=args.rpm,
                max_concurrent=args.max_concurrent, daily_quota=args.daily_quota, expires_at=expires)
            print(new.key)
            print(f"created key {new.record.id} ({args.name}); it is shown only this once", file=sys.stderr)
            return 0
        for rec in await apikeys.list_keys(storage):
            state = "enabled" if rec.enabled else "disabled"
            shown = ",".join(rec.allowed_models) or "*"
            print(f"{rec.id}  {rec.prefix:<12} {rec.name:<20} {state:<8} rpm={rec.rpm or '-'} models={shown}")
        return 0

    return with_storage(settings, run)


def cmd_admin(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("new admin password: ")
        if getpass.getpass("repeat: ") != password:
            print("passwords differ; nothing changed", file=sys.stderr)
            return 1

    async def run(storage: Storage) -> int:
        await adminauth.set_password(storage, password)
        print("admin password updated")
        return 0

    return with_storage(settings, run)


def cmd_models(args: argparse.Namespace) -> int:
    """Exit 0 when the catalog agrees with grok.com, 1 when an entry disagrees, 4 when grok.com could not be asked."""
    from .catalog import load_catalog
    from .gateway import model_check
    from .gateway.wiring import egress_config, upstream_config
    from .upstream.client import GrokClient
    from .upstream.errors import UpstreamError

    settings = load_settings(args)
    catalog = load_catalog(settings.server.data_dir)

    async def run(storage: Storage) -> int:
        accounts = [a for a in await storage.all_accounts()
                    if a.status == "active" and (args.pool is None or a.pool == args.pool)]
        if not accounts:
            print("grok2api: no active account to ask grok.com with", file=sys.stderr)
            return 4
        proxy = egress_config(settings).static_proxy(accounts[0].egress) or None  # the account's own egress
        async with GrokClient(upstream_config(settings)) as client:
            try:
                findings, upstream = await model_check.run(client, catalog, accounts[0].token, proxy)
            except UpstreamError as exc:
                print(f"grok2api: grok.com /rest/modes failed ({exc.kind.value}): {exc.message}", file=sys.stderr)
                return 4
        print(model_check.report(findings, upstream))
        return 1 if findings else 0

    return with_storage(settings, run)


def cmd_doctor(args: argparse.Namespace) -> int:
    """See cli_doctor.run: 0 all needed steps passed, 1 one failed, 4 no account."""
    from . import cli_doctor

    setup_logging(os.environ.get("LOG_LEVEL", "WARNING").upper())
    return cli_doctor.run(args, load_settings(args))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `grok2api` alone, or with only serve options, means `grok2api serve`.
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    handlers: dict[str, Callable[[], int]] = {
        "serve": lambda: cmd_serve(args, argv),
        "fake-grok": lambda: cmd_fake_grok(args),
        "config": lambda: cmd_config(args),
        "tokens": lambda: cmd_tokens(args),
        "keys": lambda: cmd_keys(args),
        "admin": lambda: cmd_admin(args),
        "models": lambda: cmd_models(args),
        "doctor": lambda: cmd_doctor(args),
    }
    try:
        return handlers[args.command]()
    except ConfigError as exc:
        print(f"grok2api: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"grok2api: storage error: {exc}", file=sys.stderr)
        return 3
    except ValueError as exc:
        print(f"grok2api: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
