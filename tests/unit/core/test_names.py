"""The runtime's contract names (streams/core/names.py) are the manifest's, and mean what they say."""
from registry.manifest import default_manifest
from streams.core import names

MANIFEST = default_manifest()


def test_every_named_contract_is_an_active_contract_of_the_manifest():
    for name in (names.SCAN_REQUESTED, names.DISCOVERED, names.DEAD_LETTERED, names.SIMILARITY_PROBE, names.STEP_STARTED,
                 *names.TERMINAL):
        assert MANIFEST.by_name(name).active, name


def test_the_terminal_contracts_are_the_completion_topics_external_services_read():
    topics = {MANIFEST.by_name(n).topic for n in names.TERMINAL}
    assert topics == {"model.processing.completed.v1", "model.processing.failed.v1"}
    assert {MANIFEST.by_name(n).compatibility for n in names.TERMINAL} == {"FULL_TRANSITIVE"}
