"""python -m benchmarks: run the suite, write RESULTS.md, results.json and ratios.png.

Examples:
    python -m benchmarks                         # full run (long: symback and JAX compile)
    python -m benchmarks --quick --out /tmp/b    # smoke run: few rounds, small W1v/W5
    python -m benchmarks --only W2,W3 --systems symback,numpy,torch
    python -m benchmarks --render benchmarks/results.json   # tables and chart again
"""
import argparse
import os
import sys
import time

from . import report, suite


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="symback against its peers on WORKLOADS.md")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 rounds, W1v with 10,000 points, W5 with K = 10, 50")
    parser.add_argument("--only", default=None,
                        help="comma-separated workloads, e.g. W2,W3 (W5 = every K, or 'W5 K=50')")
    parser.add_argument("--systems", default=",".join(suite.SYSTEMS),
                        help=f"comma-separated systems among {', '.join(suite.SYSTEMS)}")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                        help="directory for RESULTS.md, results.json, ratios.png (default: benchmarks/)")
    parser.add_argument("--no-latency", action="store_true",
                        help="skip symback's fresh-process first-call and cached latencies")
    parser.add_argument("--render", metavar="RESULTS_JSON", default=None,
                        help="only re-render RESULTS.md and ratios.png from a results.json")
    opts = parser.parse_args(argv)
    if opts.render:
        import json
        with open(opts.render) as f:
            results = json.load(f)
        report.write(results, opts.out)
        return

    instances = suite.QUICK if opts.quick else suite.FULL
    if opts.only:
        wanted = [w.strip() for w in opts.only.split(",") if w.strip()]
        known = {iid for iid, _, _ in instances} | {w for _, w, _ in instances}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
        instances = [i for i in instances if i[0] in wanted or i[1] in wanted]
    systems = [s.strip() for s in opts.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in suite.SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(suite.SYSTEMS)}")

    t0 = time.perf_counter()
    results = suite.run(instances, systems, opts.quick, latency=not opts.no_latency)
    results["settings"]["suite_seconds"] = time.perf_counter() - t0
    report.write(results, opts.out)
    print(f"wrote {os.path.join(opts.out, 'RESULTS.md')}, results.json, ratios.png "
          f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
