"""Pure market knowledge the services share: exchange calendars, data-quality checks, benchmarks."""
