"""`textclf rehearse`: the synthesized stack, deployed into emulated AWS and run offline (docs/rehearsal.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
