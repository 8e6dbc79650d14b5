"""Reading spec files: JSON, TOML and YAML (``yaml.safe_load``, the optional ``lossreg-core[yaml]`` extra).

Files are data only: YAML tags that would build Python objects are refused, duplicate keys are refused
(a silently dropped entry is a bug waiting to happen), and files over ``MAX_BYTES`` are refused unread.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Final

from lossreg._errors import LossSpecError, short_repr

__all__ = ["MAX_BYTES", "load"]

MAX_BYTES: Final = 1 << 20  # 1 MiB: a spec is a few lines; anything bigger is a mistake
_YAML_BOOL: Final = "tag:yaml.org,2002:bool"
_YAML_FLOAT: Final = "tag:yaml.org,2002:float"
_FORMATS: Final = {".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a spec")


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise LossSpecError(
            "Reading a YAML spec needs PyYAML. Install it with `pip install pyyaml` (or the extra: "
            "`pip install 'lossreg-core[yaml]'`), or write the spec as JSON or TOML."
        ) from exc

    class _StrictLoader(yaml.SafeLoader):
        pass

    # YAML 1.2 scalars, not 1.1's: the entry key `on` (and yes/no/off) stays a string rather than becoming
    # True, and `1e-3` is a number rather than a string.
    _StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_YAML_BOOL, _YAML_FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _StrictLoader.add_implicit_resolver(_YAML_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    _StrictLoader.add_implicit_resolver(
        _YAML_FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    )

    def construct_mapping(loader: _StrictLoader, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *anchor'; its keys may be overridden here
                continue
            key = loader.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key such as a list
                raise yaml.constructor.ConstructorError(
                    None, None, f"unhashable key {key!r}", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: plain data only


def _load_toml(text: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the same parser, published as tomli
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError as exc:
            raise LossSpecError(
                "Reading a TOML spec on Python 3.10 needs tomli: `pip install tomli`, or write the spec as JSON."
            ) from exc
    return tomllib.loads(text)


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _read_bytes(file: Path) -> bytes:
    """The file's bytes, refusing what is not a regular file or is over ``MAX_BYTES`` (checked before reading)."""
    try:
        info = file.stat()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise LossSpecError(f"Cannot read spec file: {_reason(exc)}.", path=str(file)) from exc
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):  # a directory fails on open below
        raise LossSpecError(
            "Spec file is not a regular file (a pipe, device or socket would be read without end, or block). "
            "Write the spec to a file and pass its path.",
            path=str(file),
        )
    if info.st_size > MAX_BYTES:
        raise LossSpecError(
            f"Spec file is {info.st_size} bytes; the limit is {MAX_BYTES}. A spec is a few lines of data: "
            "check that this is the right file.",
            path=str(file),
        )
    try:
        with open(file, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # bounded even if the file grows after the check
    except OSError as exc:
        raise LossSpecError(f"Cannot read spec file: {_reason(exc)}.", path=str(file)) from exc
    if len(raw) > MAX_BYTES:
        raise LossSpecError(
            f"Spec file is over the limit of {MAX_BYTES} bytes. A spec is a few lines of data: check that this is "
            "the right file.",
            path=str(file),
        )
    return raw


def load(path: os.PathLike[str] | os.PathLike[bytes]) -> tuple[Any, str]:
    """Read a spec file; return its data and the root used in error paths (the file's path, as given)."""
    try:
        file = Path(os.fsdecode(path))
    except TypeError as exc:  # an os.PathLike whose __fspath__ gives neither str nor bytes
        raise LossSpecError(f"Invalid spec file path {short_repr(path)}: {exc}.", path="spec") from exc
    root = f"{file}: spec"
    fmt = _FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise LossSpecError(
            f"Unknown spec file type {file.suffix!r}. Expected one of {', '.join(_FORMATS)}.", path=str(file)
        )
    raw = _read_bytes(file)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some Windows editors write, is dropped
    except UnicodeDecodeError as exc:
        raise LossSpecError(
            f"Spec file is not valid UTF-8 (byte {exc.start}). Save it as UTF-8.", path=str(file)
        ) from exc
    if not text.strip():
        raise LossSpecError("Spec file is empty. Write a loss name, an entry, or one entry per output.", path=str(file))
    try:
        if fmt == "json":
            data = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        elif fmt == "toml":
            data = _load_toml(text)
        else:
            data = _load_yaml(text)
    except LossSpecError:
        raise
    except RecursionError as exc:
        raise LossSpecError("Spec file is nested too deeply to be a loss spec.", path=str(file)) from exc
    except Exception as exc:  # each parser has its own error types; all mean "not valid <format>"
        raise LossSpecError(f"Invalid {fmt.upper()} in spec file: {exc}", path=str(file)) from exc
    if data is None:
        raise LossSpecError(
            "Spec file holds no data (only null or comments). Write a loss name, an entry, or one entry per output.",
            path=str(file),
        )
    return data, root
