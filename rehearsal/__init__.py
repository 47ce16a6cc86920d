"""`textclf rehearse`: the synthesized stack, deployed into emulated AWS and run offline (docs/rehearsal.md)."""
