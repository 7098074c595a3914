"""The eval harness: benchmarks and reports over the pipeline (`qa bench`)."""
