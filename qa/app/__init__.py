"""The app stage: the CLI, the chat page, load testing and their helpers, thin over the library."""
