"""train → fold → export → verify a CLIF network on digits (see pipeline.py).
Usage: python examples/pipeline_clif.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("clif"))
