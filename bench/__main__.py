"""`make bench`: performance figures as ratios to baselines measured in the same run."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    results: list[dict] = []
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("no benchmarks yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
