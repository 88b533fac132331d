"""Pure planning: values in, commands and file contents out; no I/O."""
