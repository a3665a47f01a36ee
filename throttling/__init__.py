"""The cross-pod per-resource throttle (CONTRACT §3); built by the throttling issue."""
