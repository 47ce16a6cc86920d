"""Container code of the training and evaluation jobs (run as scripts; see contract.py for what the host imports)."""
