"""The job: `job.json`'s top-level schema, and the validated, immutable view every stage reads.

Each stage declares its own options beside its code (`functions/<stage>/options.py`); `load_job`
validates against those of every stage the registry lists (emcore/registry.py), and is the single
way a user's JSON becomes a `Job`.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from emcore.protocol import MAX_WAVE_TASKS
from emcore.schema import ConfigError, Field, Section
from emcore.storage import BadKey, check_key

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
MAX_Z = 10 ** 9   # a z index of 10 digits at most: anything larger is a typo, not a stack


_PLACEHOLDER = re.compile(r"%0?(\d*)d")
# Widest z field a section name may have: 12 digits hold any index a stack can have.
MAX_FIELD_WIDTH = 12


def is_stack_pattern(value: str) -> bool:
    """A name without a placeholder names one multi-page TIFF whose page z is section z."""
    return "%" not in value and value.lower().endswith((".tif", ".tiff"))


def _check_pattern(value: str) -> str | None:
    """Checked by parsing, never by formatting: `%0999999999d` would allocate a gigabyte."""
    if not value.lower().endswith((".png", ".tif", ".tiff")):
        return f"must name PNG (.png) or TIFF (.tif, .tiff) files, got {value[:80]!r}"
    found = _PLACEHOLDER.findall(value)
    stack = is_stack_pattern(value)
    if not stack and (len(found) != 1 or value.count("%") != 1):
        return (f"must contain exactly one integer placeholder such as %05d (and no other %), or name one "
                f"multi-page TIFF, got {value[:80]!r}")
    if found and found[0] and int(found[0]) > MAX_FIELD_WIDTH:
        return f"field width {found[0][:12]} is too wide: at most {MAX_FIELD_WIDTH} digits"
    if len(value) > 512:
        return "is longer than 512 characters"
    try:
        check_key(value if stack else value % 0)
    except BadKey:
        return f"must name a file below `source` (no '..', no leading '/'), got {value[:80]!r}"
    return None


JOB_FIELDS = (
    Field("id", "str", doc="Job name: letters, digits, '.', '_' or '-'.",
          check=lambda v: None if _ID.match(v) else f"must match {_ID.pattern}, got {v!r}"),
    Field("dest", "url", doc="Job root: every output and all job state live under it."),
    Field("source", "url", None, nullable=True,
          doc="Where the raw sections (PNG or TIFF) are. Needed by the image stages (align, pyramid)."),
    Field("image", "str", "img%05d.png", check=_check_pattern,
          doc="Section file name pattern below `source`, printf-style with the z index; PNG or TIFF (8 or 16 bit; "
              "TIFF uncompressed, LZW, deflate or zstd) by its extension. A TIFF name without a placeholder "
              "(`stack.tif`) is a multi-page stack (plain, ImageJ or OME-TIFF) whose page z is section z."),
    Field("minz", "int", 0, minimum=0, maximum=MAX_Z, doc="First section index (inclusive)."),
    Field("maxz", "int", None, nullable=True, minimum=0, maximum=MAX_Z, doc="Last section index (inclusive)."),
    Field("resolution", "number3", [8, 8, 8], minimum=1e-9, doc="Voxel size in nanometres [x, y, z]."),
    Field("voxel_offset", "int3", [0, 0, 0],
          doc="Position of the first voxel in the volume, in voxels; must be divisible by every scale's downsampling factor."),
    Field("workers", "int", None, nullable=True, minimum=1,
          doc="Local backend: worker processes (default: all cores)."),
    Field("attempts", "int", 3, minimum=1, maximum=100,
          doc="Deliveries of a task before it is dead-lettered and reported failed."),
)


@dataclass(frozen=True)
class Job:
    config: dict[str, Any]

    @property
    def id(self) -> str:
        return self.config["id"]

    @property
    def dest(self) -> str:
        return self.config["dest"]

    @property
    def source(self) -> str | None:
        return self.config["source"]

    @property
    def z_range(self) -> range:
        return range(self.config["minz"], self.config["maxz"] + 1)

    @property
    def resolution(self) -> list[float]:
        return self.config["resolution"]

    @property
    def voxel_offset(self) -> list[int]:
        return self.config["voxel_offset"]

    def section_name(self, z: int) -> str:
        """The file holding section z."""
        pattern = self.config["image"]
        return pattern if is_stack_pattern(pattern) else pattern % z

    def section_page(self, z: int) -> int | None:
        """Section z's page in a multi-page TIFF stack; None when each section is a file."""
        return z if is_stack_pattern(self.config["image"]) else None

    def stage(self, name: str) -> dict[str, Any] | None:
        """The stage's validated options, or None if the job does not run it."""
        return self.config["stages"].get(name)

    def to_json(self) -> str:
        return json.dumps(self.config, indent=2, sort_keys=True) + "\n"

    @property
    def generation(self) -> str:
        """Digest of the stored job.json: tells this job from any other ever run at its root."""
        return generation_of(self.to_json().encode())


def generation_of(stored: bytes) -> str:
    return hashlib.sha256(stored).hexdigest()[:16]


def job_section(stage_sections: tuple[Section, ...]) -> Section:
    stages = Section("stages", "Stages to run; an absent stage does not run, `{}` runs it with defaults.",
                     fields=(), sections=stage_sections)
    return Section("", "The job description.", fields=JOB_FIELDS, sections=(stages,))


def validate_job(raw: Any, stage_sections: tuple[Section, ...]) -> Job:
    """Validate a parsed job.json; raises ConfigError naming the offending field."""
    config = job_section(stage_sections).validate(raw)
    config.setdefault("stages", {})
    from emcore.registry import specs
    stages = config["stages"]
    image_stages = [s.name for s in specs() if s.name in stages and s.takes_sections(stages[s.name])]
    for s in specs():
        if s.name in stages and s.input_option and stages[s.name].get(s.input_option) is not None:
            makers = [m for m in s.after if m in stages]
            if makers:
                raise ConfigError(f"stages.{s.name}.{s.input_option}",
                                  f"gives {s.name} its input, so stage {makers[0]!r}, which makes that input "
                                  "from the sections, cannot run in the same job")
    if image_stages:
        if config["source"] is None:
            raise ConfigError("source", f"is required by stage {image_stages[0]!r}")
        if config["maxz"] is None:
            raise ConfigError("maxz", f"is required by stage {image_stages[0]!r}")
    if config["maxz"] is not None and config["maxz"] < config["minz"]:
        raise ConfigError("maxz", f"must be >= minz ({config['minz']}), got {config['maxz']}")
    if config["maxz"] is not None and config["maxz"] - config["minz"] + 1 > MAX_WAVE_TASKS:
        raise ConfigError("maxz", f"spans {config['maxz'] - config['minz'] + 1:,} sections from minz "
                                  f"{config['minz']}; a job takes at most {MAX_WAVE_TASKS:,}")
    if not config["stages"]:
        raise ConfigError("stages", "names no stage: nothing to run")
    return Job(config)


def load_job(raw: Any) -> Job:
    """A parsed job.json validated against every registered stage's options."""
    from emcore.registry import option_sections
    return validate_job(raw, option_sections())


def load_job_text(text: str, origin: str = "job.json") -> Job:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError("", f"{origin} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return load_job(raw)


def load_job_file(path: str) -> Job:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise FileNotFoundError(f"cannot read config {path}: {e.strerror}") from None
    return load_job_text(text, origin=path)
