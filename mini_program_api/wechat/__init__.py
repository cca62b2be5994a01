"""WeChat adapters, one per WeChat service; base URLs are configuration (the sandbox locally)."""
