"""The runtime: Faust app, manifest-derived topics, thin stage agents, the orchestrator."""
