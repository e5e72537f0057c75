"""Data package: the Avro contracts and the manifest that governs them.

Nothing here executes; `registry.manifest` reads these files. The directory is a package only so
the contracts ship inside the wheel and every process reads the same bytes.
"""
from pathlib import Path

SCHEMAS_DIR = Path(__file__).resolve().parent
