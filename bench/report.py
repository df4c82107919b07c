"""What a run found: the acceptance checks, the printed tables and the machine it ran on.

`acceptance` turns the results into check rows against the targets below; `report` is the
text `make bench` prints (the same figures bench/results/latest.json holds).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
from typing import Any

from load import POST_BATCH
from servers import sources_digest

# Acceptance targets.
MIN_SINGLE_RATIO = 10.0
MAX_SINGLE_P99_MS = 10.0
MIN_BATCH_RECORDS_PER_S = 100_000
MAX_READ_P95_MS = 10.0


def ms(us: float) -> str:
    """Microseconds as milliseconds with two decimals, the unit every table shows."""
    return f"{us / 1000:.2f}"


def latency(result: dict[str, Any], *percentiles: str) -> list[str]:
    """A wrk result's latency cells (p50 and p99 unless named) and its non-2xx count."""
    cells = [ms(result[f"{p}_us"]) for p in percentiles or ("p50", "p99")]
    return [*cells, f"{result['non2xx']:,}"]


def acceptance(results: dict[str, Any], records: int) -> list[dict[str, Any]]:
    """One row per target: what was measured and whether it holds."""
    single, batch, reads = results["single"], results["batch"], results["reads"]
    big = reads[str(records)]["endpoints"]
    p99 = statistics.median(single["txmon_p99_ms_rounds"])
    checks = [
        (
            "single-record POST rate, txmon/peer (2xx)",
            f">= {MIN_SINGLE_RATIO:g}",
            single["ratio_txmon_peer"],
            single["ratio_txmon_peer"] >= MIN_SINGLE_RATIO,
        ),
        (
            "single-record POST p99, txmon, median of rounds (ms)",
            f"< {MAX_SINGLE_P99_MS:g}",
            p99,
            p99 < MAX_SINGLE_P99_MS,
        ),
        (
            f"{POST_BATCH:,}-record batch POSTs, records/s",
            f">= {MIN_BATCH_RECORDS_PER_S:,}",
            batch["txmon"]["records_per_s"],
            batch["txmon"]["records_per_s"] >= MIN_BATCH_RECORDS_PER_S,
        ),
    ]
    for key in ("series_60", "summary_60"):
        p95 = big[key]["p95_us"] / 1000
        checks.append(
            (
                f"{key} p95 at {records:,} records (ms)",
                f"< {MAX_READ_P95_MS:g}",
                p95,
                p95 < MAX_READ_P95_MS,
            )
        )
    return [{"check": c, "target": t, "value": v, "holds": bool(h)} for c, t, v, h in checks]


def table(rows: list[list[str]]) -> str:
    """Rows as aligned columns (the first left, the rest right) under a ruled header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict[str, Any], records: int) -> str:
    """The text `make bench` prints: every phase's table, then acceptance and problems."""
    single, batch, reads = results["single"], results["batch"], results["reads"]
    m = results["machine"]
    out = [
        f"txmon benchmark, {results['date']} - {m['cpus']} CPUs, load {m['loadavg_before']} "
        "(shared, noisy machine: compare the ratios, measured in the same run)",
        "",
        f"Single-record POSTs, wrk -t1 -c8 (fresh DB each); round {single['median_round']} "
        f"of {len(single['rounds'])}, the one with the median txmon/peer ratio:",
    ]
    rows = [["server", "req/s", "2xx req/s", "p50 ms", "p99 ms", "non-2xx", "server CPU %"]]
    for name in ("noop", "peer", "txmon"):
        r = single[name]
        cpu = f"{r['server_cpu_pct']:.0f}"
        rows.append([name, f"{r['rps']:,.0f}", f"{r['rps_2xx']:,.0f}", *latency(r), cpu])
    out += [
        table(rows),
        "",
        f"txmon/peer = {single['ratio_txmon_peer']:.1f}x (2xx rates; raw "
        f"{single['ratio_txmon_peer_raw']:.1f}x); txmon = "
        f"{100 * single['fraction_of_noop']:.0f}% of the no-op stdlib server",
        "every round: txmon/peer "
        + ", ".join(f"{r['ratio_txmon_peer']:.1f}x" for r in single["rounds"])
        + "; txmon/no-op "
        + ", ".join(f"{100 * r['fraction_of_noop']:.0f}%" for r in single["rounds"])
        + "; txmon p99 "
        + ", ".join(f"{p:.2f}" for p in single["txmon_p99_ms_rounds"])
        + " ms; peer non-2xx "
        + ", ".join(f"{r['peer']['non2xx']:,}" for r in single["rounds"]),
        "",
    ]
    out.append(f"{POST_BATCH:,}-record JSON batch POSTs, wrk -t1 -c4:")
    rows = [["server", "req/s", "records/s", "p50 ms", "p99 ms", "non-2xx"]]
    for name in ("txmon",):
        r = batch[name]
        rows.append([name, f"{r['rps']:,.1f}", f"{r['records_per_s']:,}", *latency(r)])
    rows.append(["peer (single records)", "", f"{batch['peer_records_per_s']:,.0f}", "", "", ""])
    out += [
        table(rows),
        "",
        f"txmon batch records/s / peer records/s = {batch['ratio_txmon_peer']:,.0f}x",
        f"txmon server CPU per record: {batch['txmon']['cpu_us_per_record']:.1f} µs (all "
        f"threads); spread perfectly over {results['machine']['cpus']} CPUs that work would "
        f"allow at most {batch['all_cpus_ceiling_records_per_s']:,} records/s",
        "",
    ]
    for size, entry in reads.items():
        meta = entry["db"]
        how = "cached" if meta.get("cached") else "filled now"
        out.append(
            f"Reads at {int(size):,} records (wrk -t1 -c1; DB {how}, fill took "
            f"{meta['fill_seconds']} s = {meta['fill_records_per_s']:,} records/s, "
            f"{meta['db_bytes'] / 1e6:,.0f} MB; server ready in {entry['startup_seconds']} s):"
        )
        if meta.get("schema_version") != entry.get("schema_version"):
            out.append(
                f"  (filled at schema {meta.get('schema_version')}, migrated on open to "
                f"{entry.get('schema_version')}; --refill rebuilds it)"
            )
        rows = [["endpoint", "requests", "p50 ms", "p95 ms", "p99 ms", "non-2xx"]]
        for key, r in entry["endpoints"].items():
            rows.append([key, f"{r['requests']:,}", *latency(r, "p50", "p95", "p99")])
        out += [table(rows), ""]
    out.append("Acceptance:")
    rows = [["check", "target", "measured", "holds"]]
    for a in results["acceptance"]:
        value = a["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        rows.append([a["check"], a["target"], shown, "yes" if a["holds"] else "NO"])
    out.append(table(rows))
    if results["warnings"]:
        out += ["", "Warnings:"] + [f"  {w}" for w in results["warnings"]]
    if results["problems"]:
        out += ["", "Problems seen (exit status 1):"] + [f"  {p}" for p in results["problems"]]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """CPUs, load and tool versions at the start, so a figure can be read in context."""
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "platform": platform.platform(),
        "server_sources_sha256": sources_digest(),
    }
