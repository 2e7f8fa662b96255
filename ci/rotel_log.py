"""Reads the spans out of rotel's log (`--debug-log traces --debug-log-verbosity
detailed`), for ci/firmware.sh's end-to-end checks.

rotel prints, per request, "ResourceSpans #n", "Resource attributes:" lines
"-> key: Str(value)", then "Span #n" blocks with "Trace ID : ...", "Parent ID : ...",
"ID : ...", "Name : ...", "Kind : ...", "Start time : <ns>", "End time : <ns>",
"Status code : ...", "Attributes:" and "Events:" / "SpanEvent #n" lists.
"""
import re


def parse(path):
    """Returns (services, spans): every resource's service.name, and every span as a
    dict of its fields plus "attrs", "events" (each {"name", "attrs"}) and "service"
    (the service.name of its resource)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, encoding="utf-8", errors="replace").read())
    services, spans, span, service = [], [], None, None
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("ResourceSpans #"):
            section, span, service = "resource", None, None
        elif line.startswith("Span #"):
            span = {"attrs": {}, "events": [], "service": service}
            spans.append(span)
            section = "span"
        elif line.startswith("SpanEvent #") and span is not None:
            span["events"].append({"attrs": {}})
            section = "event"
        elif line.startswith("Resource attributes:"):
            section = "resource"
        elif line.startswith("-> ") and ":" in line:
            key, _, value = line[3:].partition(": ")
            m = re.fullmatch(r"\w+\((.*)\)", value)
            value = m.group(1) if m else value
            if section == "resource" and key == "service.name":
                services.append(value)
                service = value
            elif section == "event" and span is not None:
                if key == "Name":
                    span["events"][-1]["name"] = value
                else:
                    span["events"][-1]["attrs"][key.rstrip(":")] = value
            elif section == "span" and span is not None:
                span["attrs"][key] = value
        elif span is not None and section == "span":
            m = re.fullmatch(r"(Trace ID|Parent ID|ID|Name|Kind|Start time|End time|Status code|Status message)\s*:\s?(.*)", line)
            if m:
                span[m.group(1)] = m.group(2).strip()
    return services, spans


def check_times(check, spans, boot_s, after_s, nested_names=None):
    """Checks the spans' clock (found by review: no check read a timestamp, so a broken
    clock passed): each span starts no earlier than the device's boot time (`time=`,
    Unix seconds) and ends no later than `after_s` (read on the host after the run, plus
    a second), ends no earlier than it starts, and lies within its parent when the
    parent is among `spans` (only spans named in `nested_names`, when given: a span
    handed to another task may outlive its parent). Returns {span id: (start, end)}
    in nanoseconds."""
    times = {}
    for s in spans:
        try:
            times[s.get("ID")] = (int(s.get("Start time", "")), int(s.get("End time", "")))
        except ValueError:
            times[s.get("ID")] = (0, 0)
    lo, hi = boot_s * 10**9, (after_s + 1) * 10**9
    inside = [lo <= a <= b <= hi for a, b in times.values()]
    check(all(inside), f"every span starts at or after the boot time {boot_s} and ends by {after_s + 1} (Unix s), "
          f"end >= start ({inside.count(False)} do not)")
    nested = [times[s["Parent ID"]][0] <= times[s["ID"]][0] and times[s["ID"]][1] <= times[s["Parent ID"]][1]
              for s in spans if s.get("Parent ID") in times
              and (nested_names is None or s.get("Name") in nested_names)]
    check(nested and all(nested), f"each of {len(nested)} children lies within its parent's start and end "
          f"({nested.count(False)} do not)")
    return times


class Checks:
    """Prints each check as it runs; `exit()` fails if any did."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("    ok: " if ok else "    FAILED: ") + what)
        if not ok:
            self.failures.append(what)

    def exit(self):
        raise SystemExit(1 if self.failures else 0)
