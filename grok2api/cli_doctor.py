"""The `doctor` command: settings, the account and the egress for grok2api.doctor, and its output."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from .catalog import Catalog, load_catalog
from .config.settings import Settings
from .doctor import Doctor, FixedEgress, Options, egress_label, plan, plan_text, table_text
from .doctor.plan import DEFAULT_MODES
from .egress.options import EgressConfig
from .egress.proxies import ProxyManager
from .gateway.wiring import upstream_config
from .pool.ops import mask_token
from .storage import make_storage
from .upstream.capture import Capture, CaptureOptions
from .upstream.client import GrokClient
from .upstream.headers import normalize_token
from .upstream.options import UpstreamConfig

EXIT_NO_ACCOUNT = 4


def options_for(args: argparse.Namespace, settings: Settings, catalog: Catalog) -> Options:
    only = frozenset(part.strip() for part in args.only.split(",") if part.strip())
    modes = tuple(dict.fromkeys(r.mode for r in catalog.all() if r.kind == "chat" and r.mode)) or DEFAULT_MODES
    options = Options(only=only, media=args.media, modes=modes,
                      strategies=upstream_config(settings).statsig_strategies)
    options.selected()  # unknown --only names are a usage error before anything else happens
    return options


async def _account(args: argparse.Namespace, settings: Settings) -> tuple[str, str]:
    """The token to check (given, read from stdin, or the first active account of the storage) and the
    egress that account is bound to ("" when none is stored)."""
    if args.token:
        raw = sys.stdin.readline() if args.token == "-" else args.token
        token = normalize_token(raw)
        if not token:
            raise ValueError("--token is empty")
        return token, ""
    server = settings.server
    storage = make_storage(server.storage_type, server.storage_url, server.data_dir)
    await storage.open()
    try:
        accounts = [a for a in await storage.all_accounts()
                    if a.status == "active" and (args.pool is None or a.pool == args.pool)]
    finally:
        await storage.close()
    return (accounts[0].token, accounts[0].egress) if accounts else ("", "")


async def _fetch_text(url: str) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
            session.get(url) as resp:
        resp.raise_for_status()
        return await resp.text()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every step the gateway needs passed, 1 when one failed, 4 without an account."""
    catalog = load_catalog(settings.server.data_dir)
    options = options_for(args, settings, catalog)
    config = upstream_config(settings)
    return asyncio.run(_run(args, settings, options, config, catalog))


async def _run(args: argparse.Namespace, settings: Settings, options: Options, config: UpstreamConfig,
               catalog: Catalog) -> int:
    token, bound = await _account(args, settings)
    if not token:
        print("grok2api: no active account to check (pass --token, or import one)", file=sys.stderr)
        return EXIT_NO_ACCOUNT
    account = mask_token(token)
    proxy = settings.proxy
    picker: ProxyManager | FixedEgress
    if proxy.proxy_pool_url:
        picker = ProxyManager("", proxy.proxy_pool_url, float(proxy.proxy_pool_interval), _fetch_text)
    else:  # the egress the gateway uses for this account (else the first one): the check must see what it sees
        picker = FixedEgress(EgressConfig.from_settings(settings).static_proxy(bound))
    if args.dry_run:
        steps = plan(config, options)
        egress = ("a proxy from proxy.proxy_pool_url" if isinstance(picker, ProxyManager)
                  else egress_label(picker.proxy))
        if args.json:
            print(json.dumps({"account": account, "egress": egress, "steps": [
                {"id": s.id, "title": s.title, "endpoint": s.endpoint, "required": s.required,
                 "requests": [{"method": r.method, "url": r.url, "when": r.when, "grok": r.grok} for r in s.requests]}
                for s in steps]}, indent=2))
        else:
            print(plan_text(steps, account, egress))
        return 0
    capture = Capture(CaptureOptions(directory=str(Path(args.capture)))) if args.capture else None
    async with GrokClient(config, proxy_picker=picker) as client:
        if capture is not None:
            client.transport.taps.append(capture)
        doctor = Doctor(client, token, options, catalog=catalog, account=account)
        try:
            async for result in doctor.run():
                if not args.json:
                    print(f"  {result.id}: {result.result}", file=sys.stderr, flush=True)
        finally:
            if capture is not None:
                await capture.close()
    report = doctor.report
    print(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if args.json else table_text(report))
    if capture is not None:
        print(f"transcripts: {capture.written} files in {args.capture}", file=sys.stderr)
    return report.exit_code
