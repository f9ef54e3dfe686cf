"""``python -m sklearn_overseg.demo``: the demo on built-in synthetic tissue."""

from .cli._demo import main, run_demo

__all__ = ["main", "run_demo"]

if __name__ == "__main__":
    main()
