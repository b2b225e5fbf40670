"""What every service process has in common: logging, health/readiness/metrics routes, serving."""
