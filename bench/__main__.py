"""`make bench`: every benchmark, printing its numbers (they never fail on timing)."""

from __future__ import annotations

import sys

from bench import (
    appointments,
    auditgroup,
    backup,
    bulk,
    clinical,
    desk,
    disk,
    drain,
    faces,
    folders,
    load,
    offline,
    outage,
    pinned,
    scale,
    signal,
    startup,
    visits,
)


def main() -> int:
    visits.main(sys.argv[1:])
    clinical.main([])
    drain.main([])
    startup.main([])
    outage.main([])
    offline.main([])
    folders.main([])
    faces.main([])
    backup.main([])
    signal.main([])
    pinned.main([])
    appointments.main([])
    scale.main([])
    auditgroup.main([])
    bulk.main([])
    desk.main([])
    disk.main([])
    load.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
