"""Generate hostile inputs: what a careless or malicious producer or uploader can hand meshstream.

Why its own module: the generator is pure (bytes in memory, seeded, no servers), so the stress
run, the integration test and anyone debugging a case get the same inputs from the same seed.

Two kinds of input:
* `file`: bytes stored in S3 under a (possibly hostile) key and handed to the pipeline as a
  discovered model: corrupt and truncated meshes of every format, 3MF zip bombs, over-limit
  meshes, NaN/inf coordinates, odd Unicode and path traversal in keys. Expected outcome: a
  failed run with a typed reason (or a completed run where a mutant is still a valid mesh).
* `record`: raw bytes produced straight onto a consumed topic: garbage, truncated or wrong
  magic, unknown or foreign schema ids, records that break contract constraints, scans naming
  impossible buckets, storages or workflows. Expected outcome: a dead letter with its reason.
"""
from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np
import trimesh

# Outcomes: "completed", "failed:<code>", "dead_letter:<code>".
MESH_FAILURES = frozenset({"failed:corrupt_mesh", "failed:unsupported_format", "failed:empty_file",
                           "failed:invalid_geometry", "failed:too_large", "failed:object_missing"})
ANY_DEAD_LETTER = "dead_letter:*"


@dataclass
class HostileInput:
    ident: str                      # unique within a generation; the record key / run id suffix
    kind: str                       # "file" or "record"
    category: str                   # for the report: what kind of hostility
    expect: frozenset[str]          # acceptable outcomes
    key: str = ""                   # file: S3 key (relative to the run's prefix unless absolute)
    data: bytes = b""               # file bytes, or record value
    contract: str = ""              # record: the contract whose topic receives it
    payload: dict | None = None     # record: a payload to encode (constraint / semantic cases)
    record_key: bytes = b""         # record: Kafka key
    notes: dict = field(default_factory=dict)

    def accepts(self, outcome: str) -> bool:
        if outcome in self.expect:
            return True
        return ANY_DEAD_LETTER in self.expect and outcome.startswith("dead_letter:") and outcome != "dead_letter:internal_error"


# --------------------------------------------------------------------------- valid seeds

def _seed_meshes() -> dict[str, bytes]:
    """One small valid file per format, the material that mutations start from."""
    box = trimesh.creation.box(extents=(10, 20, 5))
    ico = trimesh.creation.icosphere(subdivisions=1, radius=4)
    return {
        "stl": box.export(file_type="stl"),
        "stl_ascii": box.export(file_type="stl_ascii").encode() if isinstance(box.export(file_type="stl_ascii"), str) else box.export(file_type="stl_ascii"),
        "obj": ico.export(file_type="obj").encode(),
        "ply": ico.export(file_type="ply"),
        "ply_ascii": ico.export(file_type="ply", encoding="ascii"),
        "glb": box.export(file_type="glb"),
        "3mf": box.export(file_type="3mf"),
    }


EXT = {"stl": "stl", "stl_ascii": "stl", "obj": "obj", "ply": "ply", "ply_ascii": "ply", "glb": "glb", "3mf": "3mf"}


def _flip(data: bytes, rng: random.Random, n: int) -> bytes:
    b = bytearray(data)
    for _ in range(n):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bomb_stream(total: int) -> bytes:
    """A raw deflate stream of `total` bytes of a repeated XML-ish line: ~1000:1 compression."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"<vertex x=\"0\" y=\"0\" z=\"0\"/>" * (1 << 15)
    out, left = [], total
    while left > 0:
        piece = chunk[:left]
        out.append(comp.compress(piece))
        left -= len(piece)
    out.append(comp.flush())
    return b"".join(out)


def _zip_bomb(inflated: int, name: str = "3D/3dmodel.model") -> bytes:
    """A 3MF whose model part inflates to `inflated` bytes, built from a pre-compressed stream
    (so generating it costs one compression, not a gigabyte in memory)."""
    raw = _bomb_stream(inflated)
    crc = 0  # lying CRC: a reader must stop on size before it ever checks it
    name_b = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(raw), inflated, len(name_b), 0) + name_b
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(raw), inflated,
                          len(name_b), 0, 0, 0, 0, 0, 0) + name_b
    ct = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
    ct_name = b"[Content_Types].xml"
    ct_local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(ct), len(ct), len(ct), len(ct_name), 0) + ct_name + ct
    ct_central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, zlib.crc32(ct), len(ct), len(ct),
                             len(ct_name), 0, 0, 0, 0, 0, len(local) + len(raw)) + ct_name
    body = local + raw + ct_local
    cd = central + ct_central
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(cd), len(body), 0)
    return body + cd + end


# --------------------------------------------------------------------------- file inputs

ODD_KEYS = [
    "../../etc/passwd.stl", "..\\..\\windows\\system32\\x.stl", "a/./b/../c.stl", "/abs/leading.stl",
    "名前/モデル.stl", "émoji_🦖/dino 🦕.stl", "rtl\u202eltr.stl", "zero\u200bwidth.stl",
    "combining/e\u0301\u0301\u0301.stl", "spaces   and\ttab.stl", "percent%2e%2e%2fx.stl",
    "very/" + "deep/" * 40 + "x.stl", ("L" * 400) + ".stl", "NUL-ish\u2400.stl", "CON/aux.stl",
    "quote'\"<>|?*.stl", "newline\nin\nkey.stl", "ﬁligature.stl", "\ufeffbom.stl", "dot./.hidden.stl",
]


def _file_inputs(rng: random.Random, count: int, big: bool) -> list[HostileInput]:
    seeds = _seed_meshes()
    out: list[HostileInput] = []

    def add(category: str, data: bytes, ext: str, expect=MESH_FAILURES, key: str | None = None):
        ident = f"f{len(out):05d}"
        out.append(HostileInput(ident, "file", category, frozenset(expect),
                                key=key or f"{ident}/{category}.{ext}", data=data))

    # fixed families first (each at least once), then random mutations until `count`
    for fmt, data in seeds.items():
        ext = EXT[fmt]
        add(f"{fmt}-empty", b"", ext)
        add(f"{fmt}-garbage", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096))), ext)
        add(f"{fmt}-header-only", data[:min(len(data) // 10, 90)], ext, MESH_FAILURES | {"completed"})
    add("stl-huge-count", seeds["stl"][:80] + struct.pack("<I", 4_000_000_000) + seeds["stl"][84:], "stl")
    add("ply-huge-count", b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 999999999999\nproperty list uchar int vertex_indices\nend_header\n" + b"\0" * 64, "ply")
    add("ply-negative-count", b"ply\nformat ascii 1.0\nelement vertex -5\nproperty float x\nend_header\n", "ply")
    add("glb-lying-length", b"glTF" + struct.pack("<II", 2, 2_000_000_000) + b"\0" * 64, "glb")
    add("gltf-json-garbage", b'{"asset": {"version": "2.0"}, "buffers": [{"byteLength": 99999999999, "uri": "file:///etc/passwd"}]}', "gltf")
    add("obj-bad-indices", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999\nf -7 -8 -9\n", "obj")
    for fmt, kind in (("stl_ascii", "nan"), ("stl_ascii", "inf"), ("obj", "nan"), ("obj", "-inf"), ("ply_ascii", "nan")):
        text = seeds[fmt].decode(errors="replace")
        # replace one coordinate token with nan/inf everywhere it is the first number on a vertex line
        lines = text.splitlines()
        for i, line in enumerate(lines):
            parts = line.split()
            if (fmt.startswith("stl") and parts[:1] == ["vertex"]) or (fmt == "obj" and parts[:1] == ["v"]):
                parts[1] = kind
                lines[i] = " ".join(parts)
                break
        else:
            header_end = lines.index("end_header")
            parts = lines[header_end + 1].split()
            parts[0] = kind
            lines[header_end + 1] = " ".join(parts)
        add(f"{fmt}-{kind}", "\n".join(lines).encode() + b"\n", EXT[fmt], {"failed:invalid_geometry"})
    for value in (float("nan"), float("inf"), float("-inf")):
        b = bytearray(seeds["stl"])
        struct.pack_into("<f", b, 84 + 12, value)
        add(f"stl-binary-{value}", bytes(b), "stl", {"failed:invalid_geometry"})
    # 3MF: bombs, broken zips, wrong parts
    bomb = _zip_bomb(1_200_000_000)  # over the 1 GiB inflate limit; ~1.2 MB on the wire
    add("3mf-zip-bomb", bomb, "3mf", {"failed:too_large", "failed:corrupt_mesh"})
    add("3mf-zip-bomb-truncated", bomb[: len(bomb) // 2], "3mf")
    add("3mf-many-entries", _zip({f"3D/part{i}.model": b"<model/>" for i in range(2000)}), "3mf")
    add("3mf-not-xml", _zip({"3D/3dmodel.model": b"\x00\xff not xml"}), "3mf")
    add("3mf-xxe", _zip({"3D/3dmodel.model": b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                                b'<model><resources><object id="1"><mesh><vertices><vertex x="&x;" y="0" z="0"/>'
                                                b'</vertices></mesh></object></resources></model>'}), "3mf")
    add("3mf-billion-laughs", _zip({"3D/3dmodel.model": b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
                                                        + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(8))
                                                        + b']><model>&i;</model>'}), "3mf")
    # over the byte limit (the harness sets a small MESHSTREAM_MAX_OBJECT_BYTES) and over the triangle limit
    if big:  # `make stress` runs its worker with a 48 MiB byte limit
        add("over-byte-limit", b"solid x\n" + b" " * (49 * 1024 * 1024) + b"endsolid x\n", "stl", {"failed:too_large"})
        add("over-triangle-limit-obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f 1 2 3\n" * 5_100_000, "obj", {"failed:too_large"})
    # odd keys on a valid mesh: the run must finish (or fail cleanly if storage refused the key)
    for key in ODD_KEYS:
        add("odd-key", seeds["stl"], "stl", {"completed", "failed:object_missing", "failed:invalid_object_name"}, key=f"{len(out):05d}/{key}")
    # random mutations of every format
    fmts = list(seeds)
    while len(out) < count:
        fmt = fmts[len(out) % len(fmts)]
        data, ext = seeds[fmt], EXT[fmt]
        how = rng.choice(("truncate", "flip", "flip-many", "splice", "duplicate-tail"))
        if how == "truncate":
            mutant = data[: rng.randrange(1, len(data))]
        elif how == "flip":
            mutant = _flip(data, rng, 1 + rng.randrange(8))
        elif how == "flip-many":
            mutant = _flip(data, rng, max(1, len(data) // 20))
        elif how == "splice":
            cut = rng.randrange(len(data))
            mutant = data[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 512))) + data[cut:]
        else:
            mutant = data + data[-rng.randrange(1, min(len(data), 2000)):]
        # a mutant may still be a valid mesh (a flipped float is just another coordinate)
        add(f"{fmt}-{how}", mutant, ext, MESH_FAILURES | {"completed"})
    return out


# --------------------------------------------------------------------------- record inputs

def consumed_contracts(manifest) -> list:
    """Every active contract an agent consumes: all but the pipeline's outputs to the outside."""
    outputs = {"processing.completed", "processing.failed", "pipeline.dead-lettered"}
    return [c for c in manifest.active if c.name not in outputs]


def _record_inputs(rng: random.Random, manifest, per_topic: int, tag: str) -> list[HostileInput]:
    out: list[HostileInput] = []
    contracts = consumed_contracts(manifest)

    def add(contract, category: str, value: bytes = b"", payload: dict | None = None, expect=(ANY_DEAD_LETTER,), key: bytes | None = None):
        ident = f"r{len(out):05d}"
        out.append(HostileInput(ident, "record", category, frozenset(expect), contract=contract.name, data=value,
                                payload=payload, record_key=key or f"{tag}-{ident}".encode()))

    for contract in contracts:
        variants = [
            ("garbage", lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))),
            ("empty-value", lambda: b""),
            ("wrong-magic", lambda: b"\x01" + bytes(rng.randrange(256) for _ in range(40))),
            ("header-only", lambda: b"\x00" + struct.pack(">I", rng.randrange(1, 50))),
            ("unknown-schema-id", lambda: b"\x00" + struct.pack(">I", 1_900_000_000 + rng.randrange(10**6)) + b"\x02\x04"),
            ("text", lambda: "{\"payload\": \"ünïcödé 🦖\"}".encode()),
            ("schema-id:foreign", None),     # filled by the harness: a real id of another contract
            ("schema-id:own-garbage", None),  # a real id of this contract, garbage body
            ("big-garbage", lambda: bytes(rng.randrange(256) for _ in range(1)) * 200_000),
        ]
        for i in range(per_topic):
            name, make = variants[i % len(variants)]
            odd_key = None
            if i % 7 == 6:  # invalid UTF-8 and control bytes in the key itself
                odd_key = f"{tag}-r{len(out):05d}-".encode() + b"\xff\xfe\x00\x1b[31m"
            add(contract, f"topic-{name}", value=(make() if make else b""), key=odd_key)
            if not make:
                out[-1].notes["schema_id"] = name
    # semantic / constraint cases, encoded by the harness (registry ids) with validation off
    scan = next(c for c in contracts if c.name == "discovery-scan.requested")
    for bucket, storage, workflow, prefix, category in (
        ("models", "default", "no-such-workflow", "", "scan-unknown-workflow"),
        ("models", "default", "print-ready", "", "scan-planned-workflow"),
        ("models", "../../etc", "minimal", "", "scan-traversal-storage"),
        ("..", "default", "minimal", "", "scan-traversal-bucket"),
        ("名前", "default", "minimal", "", "scan-unicode-bucket"),
        ("", "default", "minimal", "", "scan-empty-bucket"),
        ("x" * 300, "default", "minimal", "", "scan-long-bucket"),
        ("no-such-bucket-" + tag.lower(), "default", "minimal", "../../", "scan-missing-bucket"),
    ):
        add(scan, category, payload={"scan_id": f"{tag}-{category}", "storage": storage, "bucket": bucket, "prefix": prefix,
                                     "workflow": workflow, "owner_id": None, "objects_manifest": None})
    dl = next((c for c in contracts if c.name == "download.requested"), None)
    if dl is not None:
        for category, files, max_bytes in (("constraint-no-files", [], None), ("constraint-max-bytes-zero", None, 0),
                                           ("constraint-max-bytes-negative", None, -5)):
            ref = [{"storage": "default", "bucket": "models", "key": "x.stl", "etag": None, "size_bytes": None}]
            add(dl, category, payload={"run_id": f"{tag}-{category}", "model_id": "m", "files": ref if files is None else files,
                                       "skip_cache": False, "max_bytes": max_bytes})
    return out


def generate(manifest, count: int = 1000, seed: int = 9, tag: str = "stress", big: bool = True) -> list[HostileInput]:
    """About `count` hostile inputs: ~60 % files, ~40 % records spread over every consumed topic.
    `big=False` leaves out the 40-50 MB over-limit files (quick tests; their worker keeps the default byte limit)."""
    rng = random.Random(seed)
    np.random.seed(seed)
    topics = len(consumed_contracts(manifest))
    per_topic = max(2, round(count * 0.4 / topics))
    records = _record_inputs(rng, manifest, per_topic, tag)
    files = _file_inputs(rng, max(count - len(records), 80 if big else 0), big)
    return files + records
