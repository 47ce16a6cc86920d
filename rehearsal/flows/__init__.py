"""The rehearsal's flows, each read top-down: one stage (stage.py), and the delivery pipeline (delivery.py)."""
