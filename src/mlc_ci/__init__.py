"""mlc-ci: the build, test, scan and release pipeline of an MLC-LLM monorepo."""

__version__ = "0.1.0"
