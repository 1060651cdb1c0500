"""``tecwatch`` commands for running a deployment: accounts, the access log, gateway credentials,
health checks, importing residents, devices and contacts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tecwatch.settings import Settings


def _cmd_add_user(settings: Settings, args: argparse.Namespace) -> int:
    """The way in for the first admin (the API's user endpoint needs one already)."""
    from sqlalchemy.orm import Session

    from tecwatch.api.access import UserError, create_user
    from tecwatch.db import make_engine
    from tecwatch.registry.migrate import upgrade
    from tecwatch.registry.models import UserRole

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass(f"Password for {args.username}: ")
        if getpass.getpass("Again: ") != password:
            print("tecwatch add-user: the passwords differ", file=sys.stderr)
            return 2
    engine = make_engine(settings.registry.url)
    upgrade(engine)
    try:
        with Session(engine) as s, s.begin():
            create_user(s, args.username, password, UserRole(args.role), display_name=args.name,
                        responder_id=args.responder_id)
    except UserError as err:
        print(f"tecwatch add-user: {err}", file=sys.stderr)
        return 2
    print(f"added {args.username} ({args.role})")
    return 0


def _read_new_password(args: argparse.Namespace, username: str) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    password = getpass.getpass(f"New password for {username}: ")
    if getpass.getpass("Again: ") != password:
        return None
    return password


def _accounts(settings: Settings, command: str, change) -> int:
    """Run ``change(session)`` on the registry; its answer is printed, a refusal is exit code 2."""
    from sqlalchemy.orm import Session

    from tecwatch.api.access import UserError
    from tecwatch.api.accounts import NoSuchAccount
    from tecwatch.db import make_engine
    from tecwatch.registry.migrate import upgrade

    engine = make_engine(settings.registry.url)
    upgrade(engine)
    try:
        with Session(engine) as s, s.begin():
            said = change(s)
    except (UserError, NoSuchAccount) as err:
        print(f"tecwatch {command}: {str(err).strip(chr(39))}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(said)
    return 0


def _cmd_set_active(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.api.accounts import set_active

    active = args.command == "enable-user"
    return _accounts(settings, args.command, lambda s: f"{set_active(s, args.username, active).username} is now "
                     f"{'enabled' if active else 'disabled: every session and API key of it stopped'}")


def _cmd_reset_password(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.api.accounts import set_password

    password = _read_new_password(args, args.username)
    if password is None:
        print("tecwatch reset-password: the passwords differ", file=sys.stderr)
        return 2
    return _accounts(settings, "reset-password", lambda s: f"{set_password(s, args.username, password).username}: "
                     "new password set; every session of the account has ended")


def _cmd_api_keys(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.api.accounts import list_api_keys

    def table(s) -> str:
        keys = list_api_keys(s, args.username)
        return "\n".join(f"{k.id:5} {k.prefix}...  {k.username:20} {k.name:24} "
                         f"{'revoked ' + k.revoked_at.isoformat() if k.revoked_at else 'active'}" for k in keys) or "no API keys"

    return _accounts(settings, "api-keys", table)


def _cmd_revoke_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.api.accounts import revoke_api_key

    return _accounts(settings, "revoke-api-key", lambda s: f"API key {revoke_api_key(s, args.key_id).prefix}... "
                     "revoked")


def _cmd_access_log(settings: Settings, args: argparse.Namespace) -> int:
    """Who read (or was refused) whose data; reading it here is logged as the command line's."""
    import getpass
    from datetime import datetime, timezone

    from tecwatch.api import accesslog

    try:
        f = accesslog.LogFilter.parse(user=args.user, resident=args.resident, home=args.home, start=args.since,
                                      end=args.until, action=args.action, outcome=args.outcome,
                                      names=("--since", "--until"))
    except accesslog.FilterError as err:
        print(f"tecwatch access-log: {err}", file=sys.stderr)
        return 2
    try:
        reader = f"command line ({getpass.getuser()})"
    except (KeyError, OSError):  # no login name (a container with an unnamed user)
        reader = "command line"

    def table(s) -> str:
        page = accesslog.read(s, f, args.limit, 0, username=reader, role=None, now=datetime.now(timezone.utc))
        lines = [f"{e.at:%Y-%m-%dT%H:%M:%SZ}  {e.username:16} {e.role.value if e.role else '-':12} {e.outcome:7} "
                 f"{e.action:28} home={e.home_id or '-'} resident={e.resident_id or '-'} alert={e.alert_id or '-'}"
                 f"{'  ' + e.detail if e.detail else ''}" for e in page.items]
        shown = f"{len(page.items)} of {page.total} entries, newest first ({f.describe()})"
        return "\n".join([*lines, shown])

    return _accounts(settings, "access-log", table)


def _cmd_provision_gateway(settings: Settings, args: argparse.Namespace) -> int:
    from tecwatch.gateway.provision import ProvisionError, provision_gateway

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        creds = provision_gateway(args.home_id, settings.broker.passwd_file, settings.broker.acl_file, password)
    except ProvisionError as err:
        print(f"tecwatch provision-gateway: {err}", file=sys.stderr)
        return 2
    print(f"gateway for {creds.home_id}: username {creds.username}"
          + ("" if password else f", password {creds.password} (shown once: put it in the gateway's password_file)"))
    print(f"it may publish under tec/v1/{creds.home_id}/# only. Send the broker SIGHUP to load it "
          f"(docker compose kill -s HUP mosquitto).")
    return 0


def _cmd_healthcheck(settings: Settings, args: argparse.Namespace) -> int:
    """For container health checks: exit 0 when the service is doing its job, 1 (saying why) if not."""
    if args.service == "api":
        import httpx

        url = f"http://{'127.0.0.1' if settings.api.host in ('0.0.0.0', '::') else settings.api.host}:{settings.api.port}/healthz"
        try:
            problem = None if httpx.get(url, timeout=5).status_code == 200 else f"{url} did not answer 200"
        except httpx.HTTPError as err:
            problem = f"{url}: {err}"
        summary = ""
    else:
        from tecwatch.health import heartbeat_path, read_status

        health = read_status(heartbeat_path(settings.data_dir, args.service), args.max_age)
        problem, summary = health.problem, health.summary
    print(f"{args.service}: {problem or 'ok'}{f' ({summary})' if summary else ''}",
          file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


def _cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """One file, one transaction: every bad row is listed and then nothing is written."""
    import getpass
    from datetime import datetime, timezone

    from sqlalchemy.orm import Session

    from tecwatch.db import make_engine
    from tecwatch.registry.imports import ImportConflict, import_csv
    from tecwatch.registry.migrate import upgrade

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        print(f"tecwatch import: cannot read {args.file}: {err}", file=sys.stderr)
        return 2
    engine = make_engine(settings.registry.url)
    upgrade(engine)
    actor = args.actor or f"import ({getpass.getuser()})"
    try:
        with Session(engine) as s, s.begin():
            report = import_csv(s, args.kind, text, actor=actor, now=datetime.now(timezone.utc), dry_run=args.dry_run)
            if report.errors:
                s.rollback()
    except ImportConflict as err:
        print(f"tecwatch import: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for error in report.errors:
        print(error, file=sys.stderr)
    print(report.summary(), file=sys.stderr if report.errors else sys.stdout)
    return 2 if report.errors else 0


def add_admin_commands(sub) -> None:
    """Add these commands to the ``tecwatch`` parser's subcommands."""
    from tecwatch.registry.models import UserRole

    au = sub.add_parser("add-user", help="add an account to the registry (e.g. the first admin)")
    au.add_argument("username")
    au.add_argument("--role", required=True, choices=[r.value for r in UserRole])
    au.add_argument("--name", default="", help="the name shown on pages (default: the username)")
    au.add_argument("--responder-id", type=int, default=None, help="a family member's responder record")
    au.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    au.set_defaults(fn=_cmd_add_user)
    for name, what in (("disable-user", "disable an account: its sessions and API keys stop at once"),
                       ("enable-user", "enable a disabled account")):
        p = sub.add_parser(name, help=what)
        p.add_argument("username")
        p.set_defaults(fn=_cmd_set_active)
    rp = sub.add_parser("reset-password", help="set a new password for an account (every session of it ends)")
    rp.add_argument("username")
    rp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    rp.set_defaults(fn=_cmd_reset_password)
    ak = sub.add_parser("api-keys", help="list API keys (their first characters, never the keys)")
    ak.add_argument("--username", default=None)
    ak.set_defaults(fn=_cmd_api_keys)
    rk = sub.add_parser("revoke-api-key", help="revoke an API key (its number from `tecwatch api-keys`)")
    rk.add_argument("key_id", type=int)
    rk.set_defaults(fn=_cmd_revoke_api_key)
    al = sub.add_parser("access-log", help="who read (or was refused) whose data, newest first")
    al.add_argument("--user", default=None, help="only this username")
    al.add_argument("--resident", default=None, help="rows naming this resident (a number), or their home")
    al.add_argument("--home", default=None, help="rows about this home")
    al.add_argument("--since", default=None, help="from this date (2026-11-25) or ISO 8601 time; UTC unless it says")
    al.add_argument("--until", default=None, help="up to (not including) this date or time")
    al.add_argument("--action", default=None, help="actions containing this text (e.g. 'stream')")
    al.add_argument("--outcome", default=None, choices=("allowed", "denied"))
    al.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200)")
    al.set_defaults(fn=_cmd_access_log)
    pg = sub.add_parser("provision-gateway", help="broker credentials and ACL for a home's gateway")
    pg.add_argument("home_id")
    pg.add_argument("--password-stdin", action="store_true", help="use this password (first line of stdin), not a new one")
    pg.set_defaults(fn=_cmd_provision_gateway)
    im = sub.add_parser("import", help="import residents, devices or contacts from a CSV file (docs/import.md)")
    im.add_argument("kind", choices=("residents", "devices", "contacts"))
    im.add_argument("file", type=Path, help="a CSV file with a header row (UTF-8)")
    im.add_argument("--dry-run", action="store_true", help="check every row and say what would change; write nothing")
    im.add_argument("--as", dest="actor", default=None, help="the name the audit records (default: import (<user>))")
    im.set_defaults(fn=_cmd_import)
    hc = sub.add_parser("healthcheck", help="exit 0 if a service is doing its job (for container health checks)")
    hc.add_argument("service", choices=("ingest", "alerts", "api"))
    hc.add_argument("--max-age", type=float, default=60.0, help="seconds since the last status (ingest, alerts)")
    hc.set_defaults(fn=_cmd_healthcheck)
