"""The synthetic demo dataset that `eqlwatch run --once` uses when nothing is configured."""

from eqlwatch.demo.generate import DemoDataset, generate
from eqlwatch.demo.write import ensure_demo_data, write_demo_data

__all__ = ["DemoDataset", "ensure_demo_data", "generate", "write_demo_data"]
