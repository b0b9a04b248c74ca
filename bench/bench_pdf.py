"""Render time of the official PDF documents, in-process (app/documents.py).

    .venv/bin/python bench/bench_pdf.py [--repeat 30] [--batch 100] [--json]

Makes ``--repeat`` distinct issued documents of each type in a fresh SQLite
database (the database is not what is timed: the records are loaded before
the clock starts), then prints the median and 90th percentile render time per type,
the watermarked preview, and the throughput of one merged batch of
``--batch`` documents (certificates and cards, as "Print selected" makes it).
The first render of a process (font parsing, template compilation) is
reported apart as the warm-up. Target: at most 150 ms median per
certificate on this 2-core machine.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MS = 150


def _setup():
    tmp = tempfile.mkdtemp(prefix="sijill-bench-pdf-")
    os.environ["SIJILL_INSTANCE_DIR"] = tmp
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ.setdefault("SECRET_KEY", "bench-secret-key")
    from app import create_app
    app = create_app(TESTING=True, VERIFY_BASE_URL="https://sijill.example.gov.eg")
    with app.app_context():
        from app import seed
        from app.cli import init
        result = app.test_cli_runner().invoke(init, [])
        assert result.exit_code == 0, result.output
        seed.create_demo_users("Sijill@2026")
    return app


def _documents(repeat, count):
    """``repeat`` distinct documents of each type (a repeat of one document
    would flatter the figures: reportlab reuses an image it has seen, and
    every real document has its own QR code), and a batch of ``count``."""
    from tests import factories as f

    def craft():
        holder = f.citizen()
        f.issue(f.skill_test(holder))
        return f.issue(f.craft_card(holder, skill_level=f.level(3)))

    makers = {
        "registration": lambda: f.issue(f.certificate(f.citizen(), experience_years=5)),
        "skill": lambda: f.issue(f.skill_test(f.citizen())).certificate,
        "craft_card": craft,
        "permit": lambda: f.issue(f.permit(f.establishment())),
        "preview (draft)": lambda: f.certificate(f.citizen()),
    }
    docs = {name: [make() for _ in range(repeat)] for name, make in makers.items()}
    batch = [craft() if i % 2 else makers["registration"]() for i in range(count)]
    return docs, batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    app = _setup()
    from app import documents
    from app.scope import unscoped
    from tests import factories as f
    with app.app_context(), unscoped():
        docs, batch = _documents(args.repeat, args.batch)
        for doc in [d for group in docs.values() for d in group] + batch:  # load relations before timing
            documents.context_for(documents.document_of(doc), preview=True)
        t0 = time.perf_counter()
        documents.render(f.issue(f.certificate(f.citizen())))
        warmup_ms = (time.perf_counter() - t0) * 1000
        results = {}
        for name, group in docs.items():
            times = []
            for doc in group:
                t0 = time.perf_counter()
                documents.render(doc)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            results[name] = {"median_ms": round(statistics.median(times), 1),
                             "p90_ms": round(times[int(len(times) * 0.9) - 1], 1)}
        t0 = time.perf_counter()
        pdf = documents.render_batch(batch)
        batch_s = time.perf_counter() - t0
    summary = {
        "warmup_ms": round(warmup_ms, 1),
        "per_type": results,
        "batch": {"documents": len(batch), "seconds": round(batch_s, 2),
                  "documents_per_s": round(len(batch) / batch_s, 1), "pdf_kb": len(pdf) // 1024},
        "target_ms": TARGET_MS,
    }
    print(f"first render of the process (warm-up): {warmup_ms:.0f} ms")
    print(f"{'document':<18} {'median ms':>10} {'p90 ms':>8}")
    for name, r in results.items():
        mark = "" if name.startswith("preview") else ("  ok" if r["median_ms"] <= TARGET_MS else "  MISSED")
        print(f"{name:<18} {r['median_ms']:>10.1f} {r['p90_ms']:>8.1f}{mark}")
    b = summary["batch"]
    print(f"batch of {b['documents']} (half certificates, half cards 10 per A4): {b['seconds']:.2f} s, "
          f"{b['documents_per_s']:.1f} documents/s, {b['pdf_kb']} KB")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
