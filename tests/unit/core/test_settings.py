"""Settings read MESHSTREAM_* variables, from the process or from any mapping."""
from __future__ import annotations

from streams.core.settings import Settings


def test_from_env_reads_the_same_variables_with_their_types():
    s = Settings.from_env({"MESHSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:1", "MESHSTREAM_WEB_PORT": "7000",
                           "MESHSTREAM_S3_SECURE": "true", "MESHSTREAM_STEP_TIMEOUT_CAP": "2.5"})
    assert (s.kafka_bootstrap, s.web_port, s.s3_secure, s.step_timeout_cap) == ("127.0.0.1:1", 7000, True, 2.5)
    assert s.results_bucket == "meshstream-results" and s.registry_user is None


def test_process_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("MESHSTREAM_APP_ID", "from-process")
    monkeypatch.delenv("MESHSTREAM_STEP_TIMEOUT_CAP", raising=False)
    assert Settings().app_id == "from-process" and Settings().step_timeout_cap is None
