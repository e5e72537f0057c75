"""`meshstream contracts check|release|generate|asyncapi|register|diff`: contract governance.

check     offline, no servers: manifest rules, compatibility of every schema with all its released
          versions under its subject's level, released files untouched, generated code and the
          AsyncAPI document up to date. Exit 1 with one line per problem.
release   write the next released version of every active contract whose schema changed.
generate  the Python client's contracts and typed classes (clients/python/src/meshstream_client/generated/), the
          TypeScript client's (clients/typescript/src/generated/)
          and docs/asyncapi.yaml.
asyncapi  print the AsyncAPI 3.0 document (or write it with -o).
register  make a live Confluent-API registry hold the repo's contracts (levels, versions).
diff      report drift between the repo and a live registry (exit 1 when there is any).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas import SCHEMAS_DIR

REPO_ROOT = SCHEMAS_DIR.parent
ASYNCAPI_PATH = "docs/asyncapi.yaml"


def register(subparsers) -> None:
    p = subparsers.add_parser("contracts", help="check, release, generate and register the event contracts",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="contracts_command", required=True)

    def common(sp):
        sp.add_argument("--schemas", type=Path, default=SCHEMAS_DIR, help="schemas directory (default: the shipped one)")
        sp.add_argument("--root", type=Path, default=REPO_ROOT,
                        help="repository root holding the generated files (default: this checkout)")

    sp = sub.add_parser("check", help="offline: manifest, compatibility, releases, generated code")
    common(sp)
    sp.add_argument("--no-generated", action="store_true", help="skip the generated-code staleness check")
    sp.add_argument("--json", action="store_true", help="print {ok, errors, notes} as JSON")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("release", help="release changed schemas as new immutable versions")
    common(sp)
    sp.add_argument("--dry-run", action="store_true")
    sp.set_defaults(func=cmd_release)

    sp = sub.add_parser("generate", help="write Python dataclasses, TypeScript declarations, docs/asyncapi.yaml")
    common(sp)
    sp.set_defaults(func=cmd_generate)

    sp = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of the pipeline")
    common(sp)
    sp.add_argument("--format", choices=("yaml", "json"), default="yaml")
    sp.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    sp.set_defaults(func=cmd_asyncapi)

    for name, func, helptext in (("register", cmd_register, "register the contracts with a live registry"),
                                 ("diff", cmd_diff, "report drift between the repo and a live registry")):
        sp = sub.add_parser(name, help=helptext)
        common(sp)
        sp.add_argument("--registry-url", default=None,
                        help="Confluent-API base URL (default: $MESHSTREAM_SCHEMA_REGISTRY_URL or the local stack's)")
        sp.add_argument("--user", default=None,
                        help="basic auth USER[:PASSWORD] (default: $MESHSTREAM_SCHEMA_REGISTRY_USER; "
                             "password from $MESHSTREAM_SCHEMA_REGISTRY_PASSWORD when not given)")
        sp.add_argument("--subject-prefix", default="", help="prefix every subject (probe a shared registry safely)")
        if name == "register":
            sp.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        sp.set_defaults(func=func)


def _version() -> str:
    # the source's own version, not installed-package metadata: generated files must not depend
    # on how (or whether) the checkout was installed
    from streams.core.version import __version__

    return __version__


def _load(args):
    from registry.manifest import ManifestError, load_manifest

    try:
        return load_manifest(args.schemas)
    except (ManifestError, OSError, ValueError) as exc:
        print(f"ERROR manifest: {exc}", file=sys.stderr)
        return None


def generated_files(manifest) -> dict[str, str]:
    from registry import asyncapi, codegen

    files = codegen.generate(manifest)
    files[ASYNCAPI_PATH] = asyncapi.render(asyncapi.build(manifest, _version()))
    return files


def run_check(schemas: Path, root: Path = REPO_ROOT, generated: bool = True) -> tuple[list[str], list[str]]:
    """(errors, notes) of `contracts check`; usable from tests without a subprocess."""
    from registry import codegen
    from registry.compatibility import check_manifest, load_releases
    from registry.manifest import ManifestError, load_manifest
    from registry.validation import manifest_problems

    try:
        manifest = load_manifest(schemas)
    except (ManifestError, OSError, ValueError) as exc:
        return [f"manifest: {exc}"], []
    errors = list(manifest_problems(manifest))
    releases = load_releases(manifest.root)
    errors += releases.errors
    notes: list[str] = []
    for st in check_manifest(manifest, releases):
        errors += [str(p) for p in st.problems]
        if st.unreleased_change:
            notes.append(f"{st.contract.subject}: current schema is not released yet "
                         f"(latest v{st.latest_version or 0}; run `meshstream contracts release`)")
    for subject in sorted(releases.versions):
        if subject not in {c.subject for c in manifest.contracts}:
            notes.append(f"{subject}: released versions exist but no contract uses this subject any more")
    if generated:
        files = generated_files(manifest)
        asy = files.pop(ASYNCAPI_PATH)
        errors += codegen.stale(files, root)
        path = root / ASYNCAPI_PATH
        if not path.exists() or path.read_text() != asy:
            errors.append(f"{ASYNCAPI_PATH} is {'missing' if not path.exists() else 'stale'} (run `meshstream contracts generate`)")
    return errors, notes


def cmd_check(args) -> int:
    errors, notes = run_check(args.schemas, args.root, generated=not args.no_generated)
    if getattr(args, "json", False):
        import json

        print(json.dumps({"ok": not errors, "errors": errors, "notes": notes}, indent=2))
        return 1 if errors else 0
    for n in notes:
        print(f"note: {n}")
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    if errors:
        print(f"contracts check: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("contracts check: ok")
    return 0


def cmd_release(args) -> int:
    from registry.compatibility import ReleaseError, release

    manifest = _load(args)
    if manifest is None:
        return 1
    try:
        done = release(manifest, dry_run=args.dry_run)
    except ReleaseError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 1
    for subject, n in done:
        print(f"{'would release' if args.dry_run else 'released'} {subject} v{n}")
    if not done:
        print("nothing to release: every active contract matches its latest released version")
    return 0


def cmd_generate(args) -> int:
    from registry import codegen

    manifest = _load(args)
    if manifest is None:
        return 1
    files = generated_files(manifest)
    changed = codegen.write(files, args.root)
    for rel in changed:
        print(f"wrote {rel}")
    print(f"generated {len(files)} files ({len(changed)} changed)")
    return 0


def cmd_asyncapi(args) -> int:
    from registry import asyncapi

    manifest = _load(args)
    if manifest is None:
        return 1
    text = asyncapi.render(asyncapi.build(manifest, _version()), args.format)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _client(args):
    from registry.live import client_for

    from streams.core.settings import Settings

    settings = Settings()  # the one reader of MESHSTREAM_* variables
    url = args.registry_url or settings.registry_url
    user = args.user or settings.registry_user
    if user and ":" not in user:
        user = f"{user}:{settings.registry_password or ''}"
    return client_for(url, user), url


def cmd_register(args) -> int:
    from registry import live
    from registry.compatibility import load_releases

    manifest = _load(args)
    if manifest is None:
        return 1
    releases = load_releases(manifest.root)
    if releases.errors:
        for e in releases.errors:
            print(f"ERROR {e}", file=sys.stderr)
        return 1
    client, url = _client(args)
    try:
        actions = live.register(client, manifest, releases, prefix=args.subject_prefix, dry_run=args.dry_run)
    except Exception as exc:  # noqa: BLE001 - connection errors etc.: one clear line
        print(f"ERROR registry {url}: {exc}", file=sys.stderr)
        return 2
    for a in actions:
        print(a, file=sys.stdout if a.ok else sys.stderr)
    return 0 if all(a.ok for a in actions) else 1


def cmd_diff(args) -> int:
    from registry import live
    from registry.compatibility import load_releases

    manifest = _load(args)
    if manifest is None:
        return 1
    client, url = _client(args)
    try:
        drift = live.diff(client, manifest, load_releases(manifest.root), prefix=args.subject_prefix)
    except Exception as exc:  # noqa: BLE001
        print(f"ERROR registry {url}: {exc}", file=sys.stderr)
        return 2
    for d in drift:
        print(d)
    print(f"{len(drift)} difference(s) between the repository and {url}")
    return 1 if drift else 0
