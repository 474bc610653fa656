"""Shadow mode: evaluating disabled policies over time (sensor logic), the incident register,
quality scores, readiness to enable, and the plots of the alert-quality report."""
