"""RxBench core: domain rules, services and storage, free of any GUI toolkit."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rxbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
