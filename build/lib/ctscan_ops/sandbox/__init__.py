"""The local sandbox: emulators, the sandbox MetricService, the world generator and the demo."""
