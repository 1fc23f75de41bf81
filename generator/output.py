"""Stable serialisation of generated files, and the all-or-nothing replace of out/."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

try:
    from yaml import CSafeDumper as _Dumper
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]

log = logging.getLogger(__name__)

Files = Mapping[PurePosixPath, str]


class _Dumper(_Dumper):  # type: ignore[no-redef,misc,valid-type]
    """libyaml's dumper writing multi-line strings (PromQL) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, header: str = "") -> str:
    """Serialise data as YAML with keys in insertion order and LF line endings."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return header + text


def dump_json(data: Any) -> str:
    """Serialise data as JSON with sorted keys, two-space indent and a final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_tree(files: Files, folder: Path) -> None:
    """Write every file under folder, creating parent folders."""
    for relative, text in sorted(files.items()):
        target = folder / Path(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


def replace_folder(
    target: Path, files: Files, verify: Callable[[Path], None] | None = None
) -> None:
    """Replace `target` with exactly `files`, or leave it untouched if anything fails.

    The new tree is written and verified in a sibling temporary folder first; only then
    does it take the place of `target`.
    """
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    # mkdtemp creates the folder with mode 0700. Other users read the output, a Prometheus
    # server among them, so it takes the mode a plain mkdir would give it.
    staging.chmod(0o777 & ~_umask())
    try:
        write_tree(files, staging)
        if verify is not None:
            verify(staging)
        _swap_into_place(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    if _exchange(staging, target):
        # staging now contains the previous tree, which the caller removes.
        return
    # NOTE: without renameat2, the old tree is moved aside and the new one moved in with
    # two renames. A crash between them leaves the old tree in a .old- folder next to it.
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    aside.rmdir()
    target.rename(aside)
    staging.rename(target)
    shutil.rmtree(aside)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step with Linux's renameat2; False where unavailable."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE
    )
    if result != 0:
        log.debug(
            "renameat2 failed with errno %d, using two renames", ctypes.get_errno()
        )
        return False
    return True
