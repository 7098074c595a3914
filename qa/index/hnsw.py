"""Check the HNSW files of an embedded Chroma store before Chroma opens them.

Chroma's native code trusts these files: a garbled header, a cut list of upper-level links or
a link to a node that does not exist crashes the whole process (a segmentation fault, measured
with chromadb 1.5.9), and a truncated vector file is read as if it were whole. These checks
cost one pass over the links, which is done once per process that opens the index.

The layout (hnswlib as Chroma persists it): `header.bin` holds 100 bytes of sizes and counts;
`data_level0.bin` one record per node: a link count, `maxM0` neighbour ids, the vector, the
label; `length.bin` one float32 per node; `link_lists.bin` per node its upper levels' links:
their size in bytes, then per level a link count and `maxM` neighbour ids.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

# version, offsetLevel0, max_elements, cur_element_count, size_data_per_element, label_offset,
# offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult, ef_construction
_HEADER = struct.Struct("<iQQQQQQiiQQQdQ")
_MAX_LEVEL = 64  # far above what any real index reaches (levels grow as log(n) / log(M))


def damage(chroma_folder: Path) -> str | None:
    """What is wrong with the HNSW files under `chroma_folder`, or None when they look whole
    (a segment Chroma has not written to disk yet has no header and is not checked)."""
    if not chroma_folder.is_dir():
        return None
    for segment in sorted(p for p in chroma_folder.iterdir() if p.is_dir()):
        names = ("header.bin", "data_level0.bin", "length.bin", "link_lists.bin")
        files = {name: segment / name for name in names}
        present = [name for name, path in files.items() if path.exists()]
        if not present:
            continue
        if len(present) < len(files):
            missing = sorted(set(files) - set(present))
            return f"{segment.name}/{missing[0]} is missing"
        problem = _segment_damage(files)
        if problem:
            return f"{segment.name}/{problem}"
    return None


def _segment_damage(files: dict[str, Path]) -> str | None:
    header = files["header.bin"].read_bytes()
    if len(header) != _HEADER.size:
        return f"header.bin has {len(header)} bytes, not {_HEADER.size}"
    (
        version,
        offset0,
        most,
        count,
        size,
        label_at,
        data_at,
        level,
        entry,
        max_m,
        max_m0,
        m,
        mult,
        _,
    ) = _HEADER.unpack(header)
    whole = (
        version == 1
        and offset0 == 0
        and count <= most
        and 0 < m <= max_m <= max_m0 < 4096
        and data_at == 4 + 4 * max_m0
        and label_at == size - 8
        and size > data_at + 8
        and (size - data_at - 8) % 4 == 0
        and -1 <= level < _MAX_LEVEL  # -1 in an index with no node yet
        and (entry == -1 if count == 0 else 0 <= entry < count)
        and math.isfinite(mult)
        and mult > 0
    )
    if not whole:
        return "header.bin does not describe an HNSW index"
    level0 = files["data_level0.bin"].stat().st_size
    if level0 % size or level0 // size < count:
        return f"data_level0.bin has {level0} bytes, too few for {count} nodes"
    if files["length.bin"].stat().st_size < 4 * count:
        return f"length.bin is too short for {count} nodes"
    if count and not _links_valid(files["data_level0.bin"], count, size, max_m0):
        return "data_level0.bin links to nodes that do not exist"
    if not _upper_links_valid(files["link_lists.bin"].read_bytes(), count, max_m):
        return "link_lists.bin does not hold one whole list of links per node"
    return None


def _links_valid(path: Path, count: int, size: int, max_m0: int) -> bool:
    """Whether every level-0 link count fits and every neighbour id names a node."""
    nodes = np.memmap(path, dtype=np.uint8, mode="r", shape=(count, size))
    links = np.ascontiguousarray(nodes[:, : 4 + 4 * max_m0]).view(np.uint32)
    linked = links[:, 0] & 0xFFFF
    if int(linked.max()) > max_m0:
        return False
    used = np.arange(max_m0) < linked[:, None]
    return bool((links[:, 1:][used] < count).all())


def _upper_links_valid(data: bytes, count: int, max_m: int) -> bool:
    """Whether `data` (link_lists.bin) holds, for each of `count` nodes in turn, the size of
    its upper levels' links and then those levels, each with a link count that fits and
    neighbour ids that name nodes, and nothing after the last node."""
    per_level = 4 + 4 * max_m
    at = 0
    for _ in range(count):
        if at + 4 > len(data):
            return False
        (size,) = struct.unpack_from("<I", data, at)
        at += 4
        if size == 0:  # a node on level 0 only, most of them
            continue
        if size % per_level or size // per_level > _MAX_LEVEL or at + size > len(data):
            return False
        levels = np.frombuffer(data, dtype=np.uint32, count=size // 4, offset=at)
        links = levels.reshape(-1, 1 + max_m)
        linked = links[:, 0] & 0xFFFF
        if int(linked.max()) > max_m:
            return False
        if not (links[:, 1:][np.arange(max_m) < linked[:, None]] < count).all():
            return False
        at += size
    return at == len(data)
