"""The index stage: embeddings, the Chroma vectors and the BM25 keyword index, owned by Store."""
