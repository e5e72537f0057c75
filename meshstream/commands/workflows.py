"""`meshstream workflows list|show NAME|diagram [NAME]`: the workflows the orchestrator runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("workflows", help="list, show and draw (Mermaid) the workflows")
    p.add_argument("action", choices=("list", "show", "diagram"))
    p.add_argument("name", nargs="?", help="workflow name (show, diagram; default: the default workflow)")
    p.add_argument("--json", action="store_true", help="JSON output (list, show)")
    p.add_argument("--write", action="store_true", help="diagram: (re)write docs/workflows.md with every workflow")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.orchestration import diagrams as docs
    from streams.orchestration.workflow import default_workflow_name, default_workflows

    flows, default = default_workflows(), default_workflow_name()
    if args.action == "list":
        rows = [{"name": n, "status": f.status, "default": n == default, "steps": len(f.steps),
                 "description": f.description.strip()} for n, f in flows.items()]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['name']:22} {r['status']:8} {r['steps']:2} steps{'  (default)' if r['default'] else ''}  "
                      f"{r['description'].splitlines()[0] if r['description'] else ''}")
        return 0
    if args.action == "diagram" and args.write:
        from schemas import SCHEMAS_DIR

        path = SCHEMAS_DIR.parent / docs.DOC_PATH
        path.write_text(docs.markdown(flows, default))
        print(f"wrote {path}")
        return 0
    name = args.name or default
    if name not in flows:
        print(f"meshstream workflows: unknown workflow {name!r}; known: {', '.join(flows)}", file=sys.stderr)
        return 2
    flow = flows[name]
    if args.action == "diagram":
        sys.stdout.write(docs.mermaid(flow))
    elif args.json:
        print(json.dumps(docs.describe(flow), indent=2))
    else:
        d = docs.describe(flow)
        print(f"{d['name']} ({d['status']}): {d['description'].strip()}")
        for s in d["steps"]:
            print(f"  {s['stage']:20} needs {', '.join(s['needs']) or '-':30} "
                  f"{'blocking' if s['blocking'] else 'optional'}, timeout {s['timeout_seconds']} s, "
                  f"{s['max_attempts']} attempts")
    return 0
