"""Options of the noop stage: how many tasks per wave, and a value its tasks echo."""
from emcore.schema import Field, Section

OPTIONS = Section("noop", "engine test stage", fields=(Field("tasks", "int", 10), Field("salt", "str", "none")))
