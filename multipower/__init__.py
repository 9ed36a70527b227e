"""multipower: multi-agent POWER (instrumental value) in gridworlds."""

__version__ = "0.1.0"
