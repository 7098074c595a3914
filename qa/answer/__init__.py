"""The answer stage: question → passages (retrieval) → a cited answer or a refusal."""
