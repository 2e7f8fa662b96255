#!/usr/bin/env python3
"""Attributes every byte of a firmware ELF's flash (what `size` calls text) to the module
that owns it, by DWARF inline chains rather than by symbol name.

    ci/footprint-modules.py [--root DIR] [--functions N] [--charge-to-caller CRATE,...]
                            [--json OUT] NAME=ELF [NAME=ELF ...]
    ci/footprint-modules.py --symbols-only N NAME=ELF

With LTO most of picotrace is inlined into a few big functions (the board's `traced`,
`start`), so a table by symbol charges it to the caller. Here the DWARF of the ELF is
read (pyelftools): every function and inlined subroutine is painted over the bytes it
covers, outermost first, so each halfword of code belongs to the innermost frame on
its inline chain that is not Rust's `core` library; that frame's source file decides
the owner (core/src/wire/tracestate.rs -> picotrace::wire::tracestate; a registry
crate -> that crate; compiler-builtins' mem functions -> mem*; examples/firmware ->
board + app). Code of `core` (slices, iterators, str...) is thereby charged to the
module that used it; only functions of core's own that were not inlined stay "core
library". --charge-to-caller treats other crates (heapless, ...) the same way.

Ranges outside the code sections are skipped: lld points those of discarded functions
at address 0, and llvm-symbolizer, which does not skip them, charges whole functions
to compiler-builtins' libm. Bytes no DWARF covers go to the symbol around them, else
to "unattributed (padding)".

Read-only data has no DWARF of its own: a .rodata byte goes to its named symbol, else
to the owner of the code that loads its address (Arm literal pools and movw/movt,
from the disassembly); blocks end at the next symbol or loaded address. The vector
table is its own row. The rows add up to the ELF's flash, which is checked against
`llvm-size`'s text (exit status 1 if they differ).

Prints Markdown tables, a column per ELF. Needs pyelftools (ci/install.sh footprint
puts it in target/ci/footprint-venv), llvm-size, llvm-cxxfilt, arm-none-eabi-objdump;
runs offline in a few seconds per ELF.
"""
import argparse
import bisect
import collections
import json
import os
import re
import struct
import subprocess
import sys

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_NOBITS, SHT_SYMTAB = 8, 2
STT_OBJECT, STT_FUNC = 1, 2

# Short descriptions of picotrace's modules (rows are named by module path; a new
# module shows up without being listed here).
DESCRIBE = {
    "tracer": "tracer",
    "sampler": "samplers",
    "span::record": "span recording",
    "span::arena": "span arena",
    "span": "span handles",
    "span::attributes": "attribute values",
    "wire::tracestate": "tracestate + OTEP 235",
    "wire::traceparent": "W3C traceparent",
    "wire::hex": "hex",
    "wire::otlp::proto": "OTLP protobuf messages",
    "wire::protobuf": "protobuf writer",
    "wire::frame": "COBS + CRC-32 framing",
    "id": "trace/span ids",
    "random": "id generator",
    "context": "TraceContext",
    "propagation": "propagators",
    "export": "exporter API",
    "time": "time",
    "sync": "sync helpers",
}


class Elf:
    """The few things of an ELF file needed here: sections and symbols."""

    def __init__(self, path):
        data = open(path, "rb").read()
        if data[:4] != b"\x7fELF" or data[5] != 1:
            sys.exit(f"footprint-modules: {path}: not a little-endian ELF")
        self.data = data
        is64 = data[4] == 2
        self.machine, = struct.unpack_from("<H", data, 0x12)
        if is64:
            shoff, = struct.unpack_from("<Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
            fmt = "<IIQQQQIIQQ"
        else:
            shoff, = struct.unpack_from("<I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
            fmt = "<IIIIIIIIII"
        raw = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]
        # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
        strtab = raw[shstrndx]
        def cstr(off, base):
            end = data.index(b"\0", base + off)
            return data[base + off:end].decode("utf-8", "replace")
        self.sections = []
        for s in raw:
            name = cstr(s[0], strtab[4])
            if is64:
                _, typ, flags, addr, off, size, link, info, align, entsize = s
            else:
                _, typ, flags, addr, off, size, link, info, align, entsize = s
            self.sections.append(dict(name=name, type=typ, flags=flags, addr=addr, offset=off,
                                      size=size, link=link, entsize=entsize))
        self.symbols = []
        for s in self.sections:
            if s["type"] != SHT_SYMTAB:
                continue
            names = self.sections[s["link"]]["offset"]
            for i in range(s["size"] // s["entsize"]):
                at = s["offset"] + i * s["entsize"]
                if is64:
                    name, info, _, shndx, value, size = struct.unpack_from("<IBBHQQ", data, at)
                else:
                    name, value, size, info, _, shndx = struct.unpack_from("<IIIBBH", data, at)
                if size and (info & 0xF) in (STT_OBJECT, STT_FUNC):
                    self.symbols.append((value & ~1 if (info & 0xF) == STT_FUNC else value, size,
                                         cstr(name, names)))

    def words(self, section):
        """(address, value) of every aligned 32-bit word of a section."""
        base, off = section["addr"], section["offset"]
        for i in range(0, section["size"] - 3, 4):
            if (base + i) % 4 == 0:
                yield base + i, struct.unpack_from("<I", self.data, off + i)[0]


def demangle(names):
    """Demangled symbol names (llvm-cxxfilt understands Rust v0 and legacy)."""
    if not names:
        return {}
    out = subprocess.run(["llvm-cxxfilt"], input="\n".join(names), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return dict(zip(names, out))


_DEMANGLED = {}


def demangle_one(name):
    """Demangles a linkage name (cached; names already plain are returned as they are)."""
    if not name or not name.startswith(("_ZN", "_R")):
        return name
    if name not in _DEMANGLED:
        _DEMANGLED.update(demangle([name]))
    return _DEMANGLED[name]


class Owners:
    """Maps source files (and, without DWARF, symbol names) to owner rows."""

    def __init__(self, root, transparent=()):
        self.root = os.path.realpath(root)
        # Crates whose inlined code is charged to their caller, like core's.
        self.transparent = set(transparent)

    def of_file(self, path):
        """The owner of code written in this file, or None for Rust's core library."""
        if not path:
            return "?"
        if re.search(r"/library/(core|alloc)/", path):
            return None
        m = re.search(r"/library/compiler-builtins/compiler-builtins/src/(\w+)", path)
        if m:
            if m.group(1) == "mem":
                return "mem* (compiler-builtins)"
            if m.group(1) in ("float", "math"):
                return "compiler-builtins (float)"
            return "compiler-builtins (integer division, shifts)"
        real = os.path.realpath(path) if os.path.isabs(path) else path
        rel = os.path.relpath(real, self.root) if real.startswith(self.root + "/") else None
        # Worktrees of the same repository (a path recorded at another checkout).
        if rel is None:
            m = re.search(r"/((?:core|examples)/.*)$", path)
            if m and not re.search(r"/(registry|git/checkouts)/", path):
                rel = m.group(1)
        if rel is not None:
            m = re.fullmatch(r"core/src/(.*)\.rs", rel)
            if m:
                mod = re.sub(r"(^|/)(lib|mod)$", "", m.group(1)).replace("/", "::")
                return self.of_module(mod)
            if rel.startswith("examples/firmware/"):
                return "board + app (examples/firmware)"
            return rel
        m = re.search(r"/(?:registry/src/[^/]+|git/checkouts/[^/]+/[^/]+|vendor)/"
                      r"([A-Za-z0-9_-]+?)-\d+\.\d+\.\d+[^/]*/", path)
        if m:
            return m.group(1)
        return "other: " + path

    @staticmethod
    def of_module(mod):
        """The row of a picotrace module path (`wire::tracestate`)."""
        desc = DESCRIBE.get(mod)
        label = f"picotrace::{mod}" if mod else "picotrace"
        return f"{label} ({desc})" if desc else label

    @staticmethod
    def of_symbol(name):
        """Owner from a symbol name, for code without line information."""
        rules = [
            (r"compiler_builtins::mem|__aeabi_mem|^mem(cpy|move|set|cmp)$", "mem* (compiler-builtins)"),
            (r"compiler_builtins|^__aeabi|^__\w+[sdt]i\d$", "compiler-builtins (integer division, shifts)"),
            (r"__INTERRUPTS|__EXCEPTIONS|__RESET_VECTOR|^Reset$|DefaultHandler|HardFault|cortex_m_rt",
             "cortex-m-rt"),
            (r"picotrace_qemu|footprint_|picotrace_firmware_common|^main$", "board + app (examples/firmware)"),
        ]
        for pattern, owner in rules:
            if re.search(pattern, name):
                return owner
        m = re.match(r"<?(\w+)::", name)
        return m.group(1) if m else None


def dwarf_owners(elf_path, owners, code_sections):
    """Owner of each halfword of code, from DWARF: {address: (owner, function)}.

    Every subprogram and inlined subroutine with address ranges is painted over the
    halfwords it covers, outermost first, so the innermost frame wins; a frame whose
    function is written in Rust's core library does not paint (its caller keeps the
    bytes), except on a second layer used where nothing else painted. Ranges outside
    the code sections are what the linker left of discarded functions (lld points
    them at address 0): they are skipped, which llvm-symbolizer does not do.
    """
    from elftools.elf.elffile import ELFFile

    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        dwarf = elf.get_dwarf_info()
        ranges = dwarf.range_lists()
        spans = [(s["addr"], s["addr"] + s["size"]) for s in code_sections]

        def in_code(lo, hi):
            return any(a <= lo < hi <= b for a, b in spans)

        files = {}  # CU offset -> [path, ...] (DWARF 4: 1-based)

        def file_table(cu):
            if cu.cu_offset not in files:
                lp = dwarf.line_program_for_CU(cu)
                table = [""]
                if lp is not None:
                    comp_dir = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
                    comp_dir = comp_dir.value.decode() if comp_dir else ""
                    # Relative directories are relative to the CU's compilation directory.
                    dirs = [comp_dir] + [os.path.join(comp_dir, d.decode())
                                         for d in lp.header["include_directory"]]
                    for entry in lp.header["file_entry"]:
                        d = dirs[entry.dir_index] if entry.dir_index < len(dirs) else ""
                        table.append(os.path.join(d, entry.name.decode()))
                files[cu.cu_offset] = table
            return files[cu.cu_offset]

        origins = {}  # DIE offset -> (file, name)

        def origin(die):
            if die.offset in origins:
                return origins[die.offset]
            file, name, d = "", "", die
            for _ in range(8):
                a = d.attributes
                if not name:
                    for key in ("DW_AT_linkage_name", "DW_AT_name"):
                        if key in a:
                            name = a[key].value.decode("utf-8", "replace")
                            break
                if not file and "DW_AT_decl_file" in a:
                    table = file_table(d.cu)
                    i = a["DW_AT_decl_file"].value
                    file = table[i] if i < len(table) else ""
                ref = a.get("DW_AT_abstract_origin") or a.get("DW_AT_specification")
                if ref is None or (file and name):
                    break
                d = d.get_DIE_from_attribute(ref.name)
            origins[die.offset] = (file, name)
            return file, name

        def die_ranges(die, base):
            a = die.attributes
            if "DW_AT_low_pc" in a and "DW_AT_high_pc" in a:
                lo = a["DW_AT_low_pc"].value
                hi = a["DW_AT_high_pc"].value
                if a["DW_AT_high_pc"].form != "DW_FORM_addr":
                    hi += lo
                return [(lo, hi)]
            if "DW_AT_ranges" in a and ranges is not None:
                out = []
                for r in ranges.get_range_list_at_offset(a["DW_AT_ranges"].value, cu=die.cu):
                    if hasattr(r, "base_address"):
                        base = r.base_address
                    else:
                        out.append((base + r.begin_offset, base + r.end_offset))
                return out
            return []

        frames = []  # (depth, lo, hi, owner or None for core, function)

        def walk(die, depth, base):
            for child in die.iter_children():
                if child.tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine", "DW_TAG_lexical_block"):
                    d = depth
                    if child.tag != "DW_TAG_lexical_block":
                        d = depth + 1
                        found = [(lo, hi) for lo, hi in die_ranges(child, base) if in_code(lo, hi)]
                        if not found:
                            # A discarded function (or a declaration): nothing inside it
                            # is in the binary either.
                            if child.tag == "DW_TAG_subprogram" and \
                                    ("DW_AT_low_pc" in child.attributes or "DW_AT_ranges" in child.attributes):
                                continue
                        else:
                            file, name = origin(child)
                            owner = owners.of_file(file) if file else owners.of_symbol(name)
                            for lo, hi in found:
                                frames.append((d, lo, hi, owner, name))
                    if child.has_children:
                        walk(child, d, base)
                elif child.tag == "DW_TAG_namespace" and child.has_children:
                    walk(child, depth, base)

        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            low = top.attributes.get("DW_AT_low_pc")
            walk(top, 0, low.value if low else 0)

    frames.sort(key=lambda fr: fr[0])
    owner_at, core_at = {}, {}
    for depth, lo, hi, owner, name in frames:
        through = owner is None or owner in owners.transparent
        target = core_at if through else owner_at
        if through and depth > 1:
            continue  # core inlined into core: the outermost core function names it
        for addr in range(lo & ~1, hi, 2):
            target[addr] = (owner, name)
    for addr, value in core_at.items():
        owner_at.setdefault(addr, value)
    return owner_at


def loaded_addresses(elf_path, elf):
    """(instruction address, value) of the constants code loads: Arm literal-pool loads
    (`ldr rN, [pc, #i]`) and movw/movt pairs, from the disassembly. RISC-V's lui/addi
    pairs are not decoded (their data is then attributed by symbol only)."""
    objdump = "arm-none-eabi-objdump" if elf.machine == 40 else None
    if objdump is None:
        return []
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", elf_path], capture_output=True,
                          text=True, check=True).stdout
    words = {}
    for s in elf.sections:
        if s["flags"] & SHF_EXECINSTR:
            words.update(elf.words(s))
    out, movw = [], {}
    insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s+(.*)$")
    for line in text.splitlines():
        m = insn.match(line)
        if not m:
            continue
        at, op, operands = int(m.group(1), 16), m.group(2), m.group(3)
        if op.startswith("ldr") and "[pc" in operands:
            lit = re.search(r"@ \(([0-9a-f]+)", operands)
            if lit and int(lit.group(1), 16) in words:
                out.append((at, words[int(lit.group(1), 16)]))
        elif op.startswith("movw"):
            r = re.match(r"(\w+), #(\d+)", operands)
            if r:
                movw[r.group(1)] = (at, int(r.group(2)))
                out.append((at, int(r.group(2))))
        elif op.startswith("movt"):
            r = re.match(r"(\w+), #(\d+)", operands)
            if r and r.group(1) in movw:
                first, low = movw.pop(r.group(1))
                out.append((first, int(r.group(2)) << 16 | low))
    return out


def attribute(elf_path, owners):
    """{owner: bytes} over the ELF's flash, the flash size, and notes."""
    elf = Elf(elf_path)
    totals = collections.Counter()
    functions = collections.Counter()
    flash = [s for s in elf.sections if s["flags"] & SHF_ALLOC and not s["flags"] & SHF_WRITE
             and s["type"] != SHT_NOBITS and s["size"]]
    names = demangle(sorted({n for _, _, n in elf.symbols}))
    symbols = sorted((a, sz, names.get(n, n)) for a, sz, n in elf.symbols)
    starts = [a for a, _, _ in symbols]

    def symbol_at(addr):
        i = bisect.bisect_right(starts, addr) - 1
        while i >= 0 and symbols[i][0] <= addr:
            a, sz, n = symbols[i]
            if addr < a + sz:
                return n
            i -= 1
            if addr - a > 0x10000:
                break
        return None

    code = [s for s in flash if s["flags"] & SHF_EXECINSTR]
    by_dwarf = dwarf_owners(elf_path, owners, code)
    _DEMANGLED.update(demangle(sorted({fn for _, fn in by_dwarf.values()
                                       if fn and fn.startswith(("_ZN", "_R"))})))
    code_owner = {}  # address -> owner, for the executable sections
    for s in code:
        # Thumb and RV32C instructions are 2 or 4 bytes: one owner per halfword.
        for addr in range(s["addr"], s["addr"] + s["size"], 2):
            owner, fn = by_dwarf.get(addr, (None, None))
            fn = demangle_one(fn)
            if fn is not None and owner is None:
                m = re.match(r"<?core::(\w+)", fn)
                owner = f"core library ({m.group(1)})" if m else "core library"
            if fn is None:
                # No debug information: the symbol around it, else padding.
                fn = symbol_at(addr)
                owner = (owners.of_symbol(fn) if fn else None) or \
                    ("no debug info: " + fn if fn else "unattributed (padding, no symbol)")
            nbytes = min(2, s["addr"] + s["size"] - addr)
            totals[owner] += nbytes
            functions[(owner, fn or "")] += nbytes
            code_owner[addr] = owner

    notes = []
    for s in flash:
        if s["flags"] & SHF_EXECINSTR:
            continue
        lo, hi = s["addr"], s["addr"] + s["size"]
        if s["name"] == ".vector_table":
            totals["vector table (cortex-m-rt)"] += s["size"]
            continue
        # Blocks start at symbols and at addresses the code loads (from literal pools);
        # a named symbol decides its own owner, an anonymous one (.Lanon.*) and an
        # unnamed block go to the code that loads their address.
        refs = collections.defaultdict(collections.Counter)
        for at, value in loaded_addresses(elf_path, elf):
            owner = code_owner.get(at & ~1)
            if lo <= value < hi and owner:
                refs[value][owner] += 1
        blocks = {a: (n, sz) for a, sz, n in symbols if lo <= a < hi}
        for a in refs:
            blocks.setdefault(a, (None, 0))
        bounds = sorted(blocks)
        covered = 0
        for i, a in enumerate(bounds):
            name, sz = blocks[a]
            end = bounds[i + 1] if i + 1 < len(bounds) else hi
            if sz:
                end = min(end, a + sz)
            owner = None
            if name and not name.startswith(".L"):
                owner = owners.of_symbol(name)
                # A named constant of picotrace (e.g. a table) belongs to its module.
                m = re.match(r"picotrace::([\w:]+)::[A-Z_0-9]+$", name)
                if m:
                    owner = owners.of_module(m.group(1))
            if owner is None:
                # The anonymous block's users: those that load its address, or a
                # symbol that covers the address (a constant's interior).
                users = refs.get(a) or next((refs[b] for b in range(a, end) if b in refs), None)
                if users:
                    owner = users.most_common(1)[0][0]
            if owner is None:
                continue
            totals[owner] += end - a
            functions[(owner, name or "(read-only data)")] += end - a
            covered += end - a
        if covered < s["size"]:
            totals[f"unattributed {s['name']} (padding, or data no code loads directly)"] += s["size"] - covered
            notes.append(f"{s['name']}: {s['size'] - covered} of {s['size']} bytes unattributed")
    return totals, functions, sum(s["size"] for s in flash), notes


def elide(name, limit=110):
    """A function name with generic arguments elided (`Tracer<…>`), for tables."""
    out, depth = [], 0
    for i, c in enumerate(name):
        if c == "<" and i > 0 and (name[i - 1].isalnum() or name[i - 1] == "_"):
            depth += 1
            if depth == 1:
                out.append("<…")
            continue
        if c == ">" and depth > 0 and name[i - 1] != "-":
            depth -= 1
            if depth == 0:
                out.append(">")
            continue
        if depth == 0:
            out.append(c)
    text = "".join(out).replace("picotrace::", "").replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def size_text(elf_path):
    """`size` (Berkeley format) text: code and read-only data."""
    out = subprocess.run(["llvm-size", elf_path], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--json", help="also write {name: {owner: bytes}} here")
    ap.add_argument("--functions", type=int, default=0, metavar="N",
                    help="then the N largest (owner, function) pairs of the last ELF")
    ap.add_argument("--charge-to-caller", default="", metavar="CRATE,...",
                    help="crates whose inlined code counts for the function it is inlined "
                         "into, as core's does (e.g. heapless,portable-atomic)")
    ap.add_argument("--symbols-only", type=int, default=0, metavar="N",
                    help="print only the N largest symbols of the last ELF (by symbol table)")
    ap.add_argument("elfs", nargs="+", metavar="NAME=ELF")
    args = ap.parse_args()
    if args.symbols_only:
        elf = Elf(args.elfs[-1].partition("=")[2])
        names = demangle(sorted({n for _, _, n in elf.symbols}))
        print("| bytes | symbol |")
        print("| ---: | --- |")
        for _, size, name in sorted(elf.symbols, key=lambda s: -s[1])[:args.symbols_only]:
            print(f"| {size} | `{elide(names.get(name, name), 160)}` |")
        return
    owners = Owners(args.root, [c for c in args.charge_to_caller.split(",") if c])
    columns, results, failed = [], {}, False
    for spec in args.elfs:
        name, _, path = spec.partition("=")
        totals, functions, flash, notes = attribute(path, owners)
        text = size_text(path)
        total = sum(totals.values())
        if total != text or flash != text:
            print(f"footprint-modules: {name}: rows sum to {total} B, flash sections {flash} B, "
                  f"but size says text = {text} B", file=sys.stderr)
            failed = True
        columns.append(name)
        results[name] = (totals, text, notes)
        last_functions = functions
    rows = collections.Counter()
    for totals, _, _ in results.values():
        rows.update(totals)
    order = sorted(rows, key=lambda r: (-results[columns[-1]][0].get(r, 0), -rows[r], r))
    print("| owner | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for r in order:
        print(f"| {r} | " + " | ".join(str(results[c][0].get(r, 0)) for c in columns) + " |")
    print("| **total = `size` text** | " +
          " | ".join(f"**{sum(results[c][0].values())}**" for c in columns) + " |")
    if args.functions:
        print()
        print(f"| bytes ({columns[-1]}) | owner | function (owning frame) |")
        print("| ---: | --- | --- |")
        for (owner, fn), n in last_functions.most_common(args.functions):
            fn = elide(fn)
            print(f"| {n} | {owner} | `{fn}` |")
    for c in columns:
        for n in results[c][2]:
            print(f"footprint-modules: {c}: {n}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({c: dict(results[c][0]) for c in columns}, f, indent=1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
