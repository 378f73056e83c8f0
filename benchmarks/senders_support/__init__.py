"""Support code for ``benchmarks/senders.py``: the contenders and the process that runs one."""
