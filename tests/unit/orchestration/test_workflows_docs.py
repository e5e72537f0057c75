"""`meshstream workflows`: the Mermaid diagram and docs/workflows.md follow workflows.yaml."""
from __future__ import annotations

import json

from meshstream.cli import main
from schemas import SCHEMAS_DIR
from streams.orchestration import diagrams as docs
from streams.orchestration.workflow import default_workflow_name, default_workflows


def test_docs_workflows_md_is_up_to_date():
    path = SCHEMAS_DIR.parent / docs.DOC_PATH
    assert path.read_text() == docs.markdown(default_workflows(), default_workflow_name()), \
        "docs/workflows.md is stale: run `meshstream workflows diagram --write`"


def test_mermaid_has_every_step_and_dependency():
    for flow in default_workflows().values():
        text = docs.mermaid(flow)
        assert text.startswith("flowchart LR")
        for s in flow.steps:
            assert s.stage in text
            for need in s.needs:
                assert f"{docs._node(need)} --> {docs._node(s.stage)}" in text


def test_list_and_show_json(capsys):
    assert main(["workflows", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(default_workflows())
    assert [r["name"] for r in rows if r["default"]] == [default_workflow_name()]
    assert main(["workflows", "show", "minimal", "--json"]) == 0
    assert [s["stage"] for s in json.loads(capsys.readouterr().out)["steps"]] == list(default_workflows()["minimal"].stages)
