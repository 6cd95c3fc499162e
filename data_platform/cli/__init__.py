"""Operating the platform: the `data-platform` command, the demo, reports."""
