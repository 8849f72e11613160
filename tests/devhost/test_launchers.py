"""Azurite launcher and the ``python -m devhost.functions_host`` command line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from devhost.azurite import ACCOUNT_NAME, Azurite, ExternalStorage, start_azurite
from devhost.settings_loader import repo_root
from tests.devhost.helpers import b64, peek_texts, send_text, wait_for


def test_session_storage_is_exported(azurite: Azurite | ExternalStorage, storage_connection_string: str) -> None:
    assert os.environ["AzureWebJobsStorage"] == storage_connection_string
    for service in ("Blob", "Queue", "Table"):
        assert f"{service}Endpoint=http://127.0.0.1:" in storage_connection_string
    assert f"/{ACCOUNT_NAME};" in storage_connection_string


def test_a_second_instance_gets_its_own_ports_and_stops_completely(tmp_path: Path) -> None:
    from azure.storage.queue import QueueServiceClient

    instance = start_azurite(tmp_path / "data")
    try:
        assert len(set(instance.ports.values())) == 3
        with QueueServiceClient.from_connection_string(instance.connection_string) as service:
            service.create_queue("launcher-check")
            assert [q.name for q in service.list_queues()] == ["launcher-check"]
    finally:
        instance.stop()
    assert not instance.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(instance.pid, 0)  # the whole group is gone
    instance.stop()  # idempotent


APP_SOURCE = textwrap.dedent('''
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


    @app.route(route="hello/{name}", methods=["GET"])
    def hello(req: func.HttpRequest) -> str:
        return "hello " + req.route_params["name"]


    @app.queue_trigger(arg_name="msg", queue_name="%CLI_IN%", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="%CLI_OUT%", connection="AzureWebJobsStorage")
    def echo(msg: func.QueueMessage, out: func.Out[str]) -> None:
        out.set(msg.get_body().decode().upper())
''')


def test_cli_runs_the_app_of_a_root_folder_until_sigterm(tmp_path: Path, storage_connection_string: str) -> None:
    suffix = os.urandom(4).hex()
    (tmp_path / "function_app.py").write_text(APP_SOURCE)
    (tmp_path / "host.json").write_text(json.dumps(
        {"version": "2.0", "extensions": {"http": {"routePrefix": "v1"},
                                          "queues": {"maxPollingInterval": "00:00:00.200"}}}))
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # the environment wins, as with Core Tools
        "CLI_IN": f"cli-in-{suffix}", "CLI_OUT": f"cli-out-{suffix}"}}))
    env = {**os.environ, "AzureWebJobsStorage": storage_connection_string}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost.functions_host", "--port", "0", "--root", str(tmp_path)],
        cwd=str(repo_root()), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        stdout = process.stdout
        assert stdout is not None
        line = wait_for(stdout.readline, timeout=30)
        assert line.startswith("devhost: listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        assert requests.get(base_url + "/v1/hello/ann", timeout=10).text == "hello ann"
        send_text(storage_connection_string, f"cli-in-{suffix}", "shout")
        assert wait_for(lambda: peek_texts(storage_connection_string, f"cli-out-{suffix}")) == [b64("SHOUT")]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
