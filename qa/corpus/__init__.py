"""The corpus stage: article files read and cleaned, chunked, and ingested into the index."""
