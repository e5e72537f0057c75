"""The command line as a new user meets it (issue 22): every argument is checked before anything
connects, with the valid choices in the message; --version; -v anywhere; a closed pipe ends
quietly; help shows examples and defaults; librdkafka's noise stays out of the terminal; `status`
against an HTTP server that is not meshstream says so in one line.

The stack is "stopped" (closed loopback ports): a refused argument must never say "cannot reach".
"""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from meshstream import cli
from meshstream.worker_process import ROOT, free_port


@pytest.fixture()
def stopped(monkeypatch):
    port = free_port()
    for key, value in {"MESHSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
                       "MESHSTREAM_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{port}/apis/ccompat/v7",
                       "MESHSTREAM_S3_ENDPOINT": f"127.0.0.1:{port}",
                       "MESHSTREAM_API_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    return port


def refused(capsys, *argv) -> str:
    """Run the CLI in-process; it must exit 2 at parse time. Returns stderr."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "cannot reach" not in err and "Traceback" not in err
    return err


BAD = [
    (["scan", "--bucket", "models", "--workflow", "nope"], ["unknown workflow 'nope'", "standard", "complete"]),
    (["scan", "--bucket", "models", "--listing-price", "abc", "USD"], ["price 'abc' is not a number", "12.50 USD"]),
    (["scan", "--bucket", "models", "--listing-price", "0", "USD"], ["above zero"]),
    (["scan", "--bucket", "models", "--listing-price", "1.005", "USD"], ["more than two decimals"]),
    (["scan", "--bucket", "models", "--listing-price", "12.50", "dollars"], ["ISO 4217"]),
    (["scan", "--bucket", ""], ["bucket name is empty"]),
    (["scan", "--bucket", "My_Bucket"], ["not a valid S3 bucket name"]),
    (["scan", "--bucket", "models", "--printer", "Ender"], ["unknown printer 'Ender'", "'Prusa MK4'"]),
    (["scan", "--bucket", "models", "--overhang-angle", "120"], ["outside 0 to 90"]),
    (["scan", "--bucket", "models", "--wait", "--wait-timeout", "-1"], ["above zero"]),
    (["subscribe", "--contract", "bogus"], ["unknown contract(s) 'bogus'", "processing.completed"]),
    (["subscribe", "--contract", "processing.completed,bogus"], ["'bogus'"]),
    (["replay", "topic", "scans", "--from", "yesterday"], ["neither an offset nor an ISO time"]),
    (["replay", "topic", "scans", "--to", "yesterday"], ["neither an offset nor an ISO time"]),
    (["replay", "reset-group", "g", "--to-time", "42"], ["is an offset; give a time"]),
    (["worker", "--stages", "discovery,painting"], ["unknown stage(s) 'painting'", "print-analysis", "orchestrator"]),
    (["upload", "--bucket", "models"], ["DIR", "--samples"]),
    (["upload", "/no/such/folder", "--bucket", "models"], ["is not a folder"]),
    (["analyze", "x.stl", "--turntable", "8"], ["--turntable needs --thumbnails"]),
    (["analyze", "x.glb", "--units", "furlong"], ["invalid choice", "'mm'"]),
]


@pytest.mark.parametrize("argv, words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_are_refused_before_any_connection(argv, words, stopped, capsys):
    err = refused(capsys, *argv)
    for word in words:
        assert word in err, err


def test_good_values_parse_to_what_the_pipeline_takes(stopped):
    from meshstream.commands.scan import options_from

    args = cli.build_parser().parse_args(["scan", "--bucket", "models", "--listing-price", "12.5", "eur",
                                          "--workflow", "complete", "--printer", "Prusa MK4"])
    assert options_from(args)["listing"]["price"] == {"amount": 1250, "divisor": 100, "currency_code": "EUR"}
    assert args.workflow == "complete" and options_from(args)["printers"] == ["Prusa MK4"]
    sub = cli.build_parser().parse_args(["subscribe", "--contract", "processing.completed,processing.failed",
                                         "--contract", "print-analysis.completed"])
    assert sub.contract == ["processing.completed", "processing.failed", "print-analysis.completed"]
    assert cli.build_parser().parse_args(["worker", "--stages", "discovery,orchestrator"]).stages == \
        {"discovery", "orchestrator"}


def test_version(capsys):
    from meshstream import __version__

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"meshstream {__version__}"


@pytest.mark.parametrize("argv", [["-v", "workflows", "list"], ["workflows", "list", "-v"],
                                  ["workflows", "-v", "list"], ["contracts", "check", "--verbose"],
                                  ["replay", "topic", "scans", "--dry-run", "--verbose"]])
def test_verbose_is_accepted_anywhere(argv):
    assert cli.build_parser().parse_args(argv).verbose is True


def test_verbose_defaults_off():
    assert cli.build_parser().parse_args(["workflows", "list"]).verbose is False


def test_help_shows_examples_defaults_and_choices():
    parser = cli.build_parser()
    sub = {a.dest: a for a in parser._actions if a.dest == "command"}["command"].choices  # noqa: SLF001
    scan = sub["scan"].format_help()
    assert "examples:" in scan and "(default: 600.0)" in scan and "--listing-price AMOUNT CURRENCY" in scan
    assert "standard" in scan and "complete" in scan  # the workflows to choose from
    worker = sub["worker"].format_help()
    for stage in ("discovery", "technical-", "print-", "orchestrator"):
        assert stage in worker
    assert "examples:" in parser.format_help() and "examples:" in sub["subscribe"].format_help()
    assert "processing.completed" in sub["subscribe"].format_help()


def test_closed_pipe_ends_quietly():
    """`meshstream workflows list --json | head -0`: the reader is gone before the first write."""
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "meshstream.cli", "workflows", "list", "--json"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # like `head` exiting: every write now gets EPIPE
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
        assert err == "", err


def test_librdkafka_lines_stay_out_of_the_terminal():
    """A producer against a closed port: librdkafka prints `%3|...|FAIL|` lines on stderr unless
    its logs go through Python logging, which the CLI silences."""
    port = free_port()
    code = ("from meshstream.cli import silence_client_logs; silence_client_logs()\n"
            "from confluent_kafka import Producer\n"
            "from streams.core.security import kafka_client_config\n"
            "from streams.core.settings import Settings\n"
            f"p = Producer(kafka_client_config(Settings.from_env({{'MESHSTREAM_KAFKA_BOOTSTRAP': '127.0.0.1:{port}'}})))\n"
            "p.produce('t', b'x'); p.flush(3); print('done')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "done", proc.stderr
    assert "FAIL" not in proc.stderr and "rdkafka" not in proc.stderr, proc.stderr[:500]


class _NotMeshstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's API
        body = b"<html>hello</html>" if self.path == "/" else b"not found"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _HtmlEverywhere(_NotMeshstream):
    def do_GET(self):  # noqa: N802
        self.path = "/"
        super().do_GET()


@pytest.mark.parametrize("handler", [_NotMeshstream, _HtmlEverywhere], ids=["404", "html"])
def test_status_against_another_http_server_is_one_clear_line(handler, monkeypatch, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("MESHSTREAM_API_URL", url)
        code = cli.main(["status"])
    finally:
        server.shutdown()
    out, err = capsys.readouterr()
    assert code == 3 and not out
    assert len(err.strip().splitlines()) == 1 and "TypeError" not in err
    assert f"the server at {url}" in err and "not a meshstream worker API" in err

