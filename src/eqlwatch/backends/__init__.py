"""I/O edges: where events come from, where alerts go, where run state is kept."""
