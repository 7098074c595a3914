"""The eval harness behind `qa eval`, and the lab (`python -m qa.eval`): benchmarks and reports."""
