"""A small declarative schema: each option is declared once, with its type, default and the sentence
that documents it; validation and the reference documentation (`emctl validate --doc`) both come
from that declaration, so they cannot drift apart.

Errors name the field by its full path (`stages.pyramid.chunk[2]`) and say what was expected.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

REQUIRED = object()


class ConfigError(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # int, number, bool, str, url, int3, number3, choice, any
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None  # returns an error message or None

    def validate(self, value: Any, path: str) -> Any:
        if value is None and self.nullable:
            return None
        checker = _KINDS[self.kind]
        value = checker(self, value, path)
        for v, p in _elements(value, path, self.kind):
            if self.minimum is not None and v < self.minimum:
                raise ConfigError(p, f"must be at least {self.minimum}, got {v}")
            if self.maximum is not None and v > self.maximum:
                raise ConfigError(p, f"must be at most {self.maximum}, got {v}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ConfigError(path, problem)
        return value

    def describe_type(self) -> str:
        text = {"int2": "[int, int]", "int3": "[int, int, int]", "number3": "[number, number, number]"}.get(self.kind, self.kind)
        if self.kind == "choice":
            text = " or ".join(repr(c) for c in self.choices)
        return text + (" or null" if self.nullable else "")


@dataclass(frozen=True)
class Section:
    """A JSON object with known keys; unknown keys are errors (with a did-you-mean)."""
    name: str
    doc: str
    fields: tuple[Field, ...]
    sections: tuple["Section", ...] = field(default=())
    check: Callable[[dict], tuple[str, str] | None] | None = None  # (field, problem) across fields
    # Fills the options whose default follows from other options (null when not given), before
    # `check`; the job as stored and run then states the value it ran with.
    complete: Callable[[dict], dict] | None = None
    # Keys an earlier version of the schema had, and the key that replaced each: a config that
    # still says the old one is refused naming the new one.
    renamed: tuple[tuple[str, str], ...] = ()
    # Another tool's name for a key, accepted so that its configs load unchanged: validated as
    # the key it stands for, and stored under that key (the job as run says one name).
    aliases: tuple[tuple[str, str], ...] = ()

    def validate(self, obj: Any, path: str = "") -> dict:
        if not isinstance(obj, dict):
            raise ConfigError(path, f"must be a JSON object, got {type(obj).__name__}")
        known = {f.name: f for f in self.fields} | {s.name: s for s in self.sections}
        renamed = dict(self.renamed)
        for alias, key in self.aliases:
            if alias in obj:
                if key in obj:
                    raise ConfigError(_join(path, alias), f"is another name for {key!r}; give one of them")
                obj = {(key if k == alias else k): v for k, v in obj.items()}
        for key in obj:
            if key in renamed and key not in known:
                raise ConfigError(_join(path, key), f"was renamed {renamed[key]!r}; use {_join(path, renamed[key])}")
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(_join(path, key), f"unknown key{suggestion}; known keys: {', '.join(sorted(known))}")
        out: dict[str, Any] = {}
        for f in self.fields:
            p = _join(path, f.name)
            if f.name in obj:
                out[f.name] = f.validate(obj[f.name], p)
            elif f.default is REQUIRED:
                raise ConfigError(p, f"is required ({f.doc})")
            else:
                out[f.name] = f.default
        for s in self.sections:
            # A sub-section present (even as {}) is enabled with its defaults; absent means off.
            if s.name in obj and obj[s.name] is not None:
                out[s.name] = s.validate(obj[s.name], _join(path, s.name))
        if self.complete is not None:
            out = self.complete(out)
        if self.check is not None:
            problem = self.check(out)
            if problem:
                raise ConfigError(_join(path, problem[0]), problem[1])
        return out

    def document(self, level: int = 2, prefix: str = "") -> str:
        title = prefix + self.name if self.name else "job.json"
        lines = [f"{'#' * level} `{title}`", "", self.doc, ""]
        if self.fields:
            lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
            for f in self.fields:
                default = "required" if f.default is REQUIRED else f"`{_json(f.default)}`"
                lines.append(f"| `{f.name}` | {f.describe_type()} | {default} | {f.doc} |")
            lines.append("")
        for alias, key in self.aliases:
            lines += [f"`{alias}` is accepted for `{key}` (another tool's name for it); the job as stored says `{key}`.", ""]
        for old, key in self.renamed:
            lines += [f"`{old}` was renamed `{key}`: a config that still says `{old}` is refused, naming `{key}`.", ""]
        for s in self.sections:
            lines.append(s.document(level + 1, prefix=f"{title}." if self.name else ""))
        return "\n".join(lines)


def _json(v: Any) -> str:
    import json
    return json.dumps(v)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _elements(value, path, kind):
    if kind in ("int2", "int3", "number3"):
        return [(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind in ("int", "number") and value is not None:
        return [(value, path)]
    return []


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(f, v, path):
    if not _is_int(v):
        raise ConfigError(path, f"must be an integer, got {v!r}")
    return v


def _check_number(f, v, path):
    if not (_is_int(v) or isinstance(v, float)):
        raise ConfigError(path, f"must be a number, got {v!r}")
    return v


def _check_bool(f, v, path):
    if not isinstance(v, bool):
        raise ConfigError(path, f"must be true or false, got {v!r}")
    return v


def _check_str(f, v, path):
    if not isinstance(v, str) or not v:
        raise ConfigError(path, f"must be a non-empty string, got {v!r}")
    return v


def _check_url(f, v, path):
    from emcore.storage import normalize_url
    _check_str(f, v, path)
    scheme = v.split("://", 1)[0] if "://" in v else ""
    if scheme not in ("", "file", "mem", "gs", "s3"):
        raise ConfigError(path, f"unsupported URL scheme {scheme!r}: use a local path, file://, mem://, gs:// or s3://")
    return normalize_url(v)


def _list_of(n, check, shape):
    def checker(f, v, path):
        if not isinstance(v, (list, tuple)) or len(v) != n:
            raise ConfigError(path, f"must be a list of {n} values {shape}, got {v!r}")
        return [check(f, x, f"{path}[{i}]") for i, x in enumerate(v)]
    return checker


def _check_choice(f, v, path):
    if v not in f.choices:
        raise ConfigError(path, f"must be one of {', '.join(repr(c) for c in f.choices)}, got {v!r}")
    return v


_KINDS = {
    "int": _check_int,
    "number": _check_number,
    "bool": _check_bool,
    "str": _check_str,
    "url": _check_url,
    "int2": _list_of(2, _check_int, "[low, high]"),
    "int3": _list_of(3, _check_int, "[x, y, z]"),
    "number3": _list_of(3, _check_number, "[x, y, z]"),
    "choice": _check_choice,
    "any": lambda f, v, path: v,
}
