"""M of DESIGN §9: the peak resident memory of running processes, read from Linux's
/proc/PID/status (VmHWM, the high-water mark of the resident set) — psutil is not
a dependency and reads the same file."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set so far in MiB, or None if it has gone."""
    try:
        status = (PROC / str(pid) / "status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's worker processes, say)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        # the command name in parentheses may hold spaces: fields follow the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def process_tree_peak(pid: int) -> dict[str, float | int]:
    """The largest peak RSS among `pid` and its descendants, and how many there are."""
    peaks = [p for p in (peak_rss_mb(each) for each in descendants(pid)) if p is not None]
    return {"peak_rss_mb": round(max(peaks, default=0.0), 1), "processes": len(peaks)}
