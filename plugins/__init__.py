"""Built-in task plugins, registered through the same path as third-party plugins.

Each module here is one plugin (one task, or a few tasks that share a data source). Sample data in
the hub schema lives in ``samples/<task>/<split>-<lang>.jsonl``.
"""
