"""Reads the spans out of rotel's log (`--debug-log traces --debug-log-verbosity
detailed`), for ci/firmware.sh's end-to-end checks.

rotel prints, per request, "ResourceSpans #n", "Resource attributes:" lines
"-> key: Str(value)", then "Span #n" blocks with "Trace ID : ...", "Parent ID : ...",
"ID : ...", "Name : ...", "Kind : ...", "Status code : ...", "Attributes:" and
"Events:" / "SpanEvent #n" lists.
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
            m = re.fullmatch(r"(Trace ID|Parent ID|ID|Name|Kind|Status code|Status message)\s*:\s?(.*)", line)
            if m:
                span[m.group(1)] = m.group(2).strip()
    return services, spans


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
