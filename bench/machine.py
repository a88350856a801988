"""The machine a benchmark ran on, named in every table: speed figures mean nothing without it."""

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (e.g. "AMD EPYC 9B45", "Intel(R) Xeon(R) Platinum 8581C") and its core count."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} cpus"
