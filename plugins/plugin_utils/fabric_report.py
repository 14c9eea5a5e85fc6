# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports of vmnet.ipfabric.fabric_check: Markdown, HTML and an SVG picture of the fabric.

The SVG is written directly (no Graphviz or other binary): core gateways on top, the route
reflectors below, then one box per node with its VMs; every BGP session is a line coloured by
its state. Pure functions of the view returned by fabric_analysis.view() and the findings.
"""
from __future__ import annotations

import html

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.fabric_analysis import SEVERITIES, summary_counts

COLOURS = {"up": "#2e8b57", "down": "#d62728", "partial": "#ff8c00", "unknown": "#9e9e9e", "missing": "#d62728"}
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
ROLE_FILL = {"core_gateway": "#e8eef8", "route_reflector": "#eef6ee", "node": "#f7f7f7"}
ROLE_STROKE = {"core_gateway": "#3b5b92", "route_reflector": "#3a7d44", "node": "#555555"}


def verdict(findings):
    c = summary_counts(findings)
    if c["error"]:
        return "FAILED"
    if c["warning"]:
        return "PASSED with warnings"
    return "PASSED"


def counts_text(findings):
    c = summary_counts(findings)
    return ", ".join("%d %s%s" % (c[s], s, "" if c[s] == 1 else "s") for s in SEVERITIES)


def _findings_by_target(findings):
    """{host name: n findings}, {vm: n findings}."""
    hosts, vms = {}, {}
    for f in findings:
        if f["severity"] == "info":
            continue
        for w in str(f["where"]).replace(" - ", ", ").split(", "):
            w = w.split(" (")[0].strip()
            hosts[w] = hosts.get(w, 0) + 1
        for v in str(f.get("vm") or "").split(", "):
            if v:
                vms[v] = vms.get(v, 0) + 1
    return hosts, vms


def pair_states(view):
    """{(a, b): 'up'|'down'|'partial'|'unknown', detail} over both families."""
    pairs = {}
    for s in view["sessions"]:
        pairs.setdefault((s["a"], s["b"]), []).append(s)
    out = {}
    for key, ss in pairs.items():
        states = {s["state"] for s in ss}
        if states == {"up"}:
            st = "up"
        elif states <= {"down", "missing"}:
            st = "down"
        elif states == {"unknown"}:
            st = "unknown"
        else:
            st = "partial"
        label = " ".join("%s %s" % (s["afi"].replace("ip", ""), "up" if s["state"] == "up" else s["state"])
                         for s in sorted(ss, key=lambda s: s["afi"]))
        out[key] = (st, label)
    return out


# ---------------------------------------------------------------------------------------------
# SVG

def _t(x, y, text, size=12, weight="normal", anchor="middle", fill="#222", extra=""):
    return ('<text x="%.1f" y="%.1f" font-family="%s" font-size="%d" font-weight="%s" text-anchor="%s" '
            'fill="%s"%s>%s</text>' % (x, y, FONT, size, weight, anchor, fill, extra, html.escape(str(text))))


def _badge(x, y, n):
    return ('<circle cx="%.1f" cy="%.1f" r="10" fill="#d62728"/>' % (x, y)
            + _t(x, y + 4, str(n), size=11, weight="bold", fill="#fff"))


def _v4(h):
    return ", ".join(a for a in h["addresses"] if ":" not in a)


def render_svg(view, findings, title="vmnet.ipfabric fabric", generated=""):
    nodes = view["nodes"]
    rrs = view["route_reflectors"]
    cores = view["core_gateways"]
    bad_hosts, bad_vms = _findings_by_target(findings)
    states = pair_states(view)

    node_w, node_gap, vm_h = 230, 28, 52
    n_cols = max(len(nodes), 1)
    width = max(n_cols * (node_w + node_gap) + 60, 760)
    box_w, box_h = 200, 76
    y_core, y_rr, y_node = 84, 236, 400
    max_vms = max([len(n["vms"]) for n in nodes] + [0])
    node_h = 76 + max(max_vms, 1) * vm_h + 6
    n_ipam = len([f for f in findings if f["where"] == "ipam" and f["severity"] != "info"])
    legend_y = y_node + node_h + 40 + 16 * min(n_ipam, 5)
    height = legend_y + 64

    def row_x(count, w, gap):
        total = count * w + (count - 1) * gap
        start = (width - total) / 2
        return [start + i * (w + gap) for i in range(count)]

    pos = {}
    for name, xs, y, w, h in (
            ([c["name"] for c in cores], row_x(len(cores), box_w, 120), y_core, box_w, box_h),
            ([r["name"] for r in rrs], row_x(len(rrs), box_w, max(160, width / 3)), y_rr, box_w, box_h),
            ([n["name"] for n in nodes], row_x(len(nodes), node_w, node_gap), y_node, node_w, node_h)):
        for n, x in zip(name, xs):
            pos[n] = (x, y, w, h)

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">'
           % (width, height, width, height),
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           _t(24, 32, title, size=18, weight="bold", anchor="start"),
           _t(24, 54, "%s - %s%s" % (verdict(findings), counts_text(findings), (" - " + generated) if generated else ""),
              size=12, anchor="start", fill=COLOURS["down"] if verdict(findings) == "FAILED" else COLOURS["up"])]

    # sessions first, under the boxes
    for (a, b), (st, label) in sorted(states.items()):
        if a not in pos or b not in pos:
            continue
        ax, ay, aw, ah = pos[a]
        bx, by, bw = pos[b][:3]
        x1, y1, x2, y2 = ax + aw / 2, ay + ah, bx + bw / 2, by
        dash = ' stroke-dasharray="7,5"' if st in ("down", "unknown") else ""
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"%s>'
                   '<title>%s - %s: %s</title></line>'
                   % (x1, y1, x2, y2, COLOURS[st], "2.5" if st == "up" else "3", dash, html.escape(a),
                      html.escape(b), html.escape(label)))
        if st != "up":
            mx, my = x1 + (x2 - x1) * 0.62, y1 + (y2 - y1) * 0.62
            w = 7 * len(label) + 12
            out.append('<rect x="%.1f" y="%.1f" width="%d" height="18" rx="9" fill="#fff" stroke="%s"/>'
                       % (mx - w / 2, my - 12, w, COLOURS[st]))
            out.append(_t(mx, my + 1, label, size=11, weight="bold", fill=COLOURS[st]))

    def host_box(h, role, lines):
        x, y, w, hh = pos[h["name"]]
        problem = bad_hosts.get(h["name"], 0)
        stroke = COLOURS["down"] if problem or not h["reachable"] else ROLE_STROKE[role]
        dash = ' stroke-dasharray="6,4"' if not h["reachable"] else ""
        out.append('<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="8" fill="%s" stroke="%s" stroke-width="%s"%s/>'
                   % (x, y, w, hh, ROLE_FILL[role], stroke, "2.5" if problem else "1.5", dash))
        out.append(_t(x + w / 2, y + 22, h["name"], size=15, weight="bold"))
        for i, line in enumerate(lines):
            out.append(_t(x + w / 2, y + 41 + 15 * i, line, size=11, fill="#555"))
        if problem:
            out.append(_badge(x + w - 4, y + 4, problem))

    for c in cores:
        extra = ("%s IPv4 / %s IPv6 routes installed" % (c["installed"]["ipv4"], c["installed"]["ipv6"])
                 if c.get("checked") else ("%s: not checked" % (c.get("flavour") or "?")))
        host_box(c, "core_gateway", ["core gateway  " + _v4(c), extra if c["reachable"] else "not read"])
    for r in rrs:
        host_box(r, "route_reflector", ["route reflector  " + _v4(r), "%s IPv4 / %s IPv6 received"
                                        % (r["received"]["ipv4"], r["received"]["ipv6"])
                                        if r["reachable"] else "not read"])
    for n in nodes:
        x, y, w, hh = pos[n["name"]]
        host_box(n, "node", ["node %s  %s" % (_speaker(n), _v4(n)),
                             "%d VM%s" % (len(n["vms"]), "" if len(n["vms"]) == 1 else "s")])
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ccc"/>' % (x + 10, y + 66, x + w - 10, y + 66))
        if not n["vms"]:
            out.append(_t(x + w / 2, y + 100, "no VMs" if n["reachable"] else "not read", size=11, fill="#999"))
        for i, vm in enumerate(n["vms"]):
            vy = y + 74 + i * vm_h
            bad = bad_vms.get(vm["vm"], 0)
            out.append('<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="6" fill="%s" stroke="%s" stroke-width="%s"/>'
                       % (x + 10, vy, w - 20, vm_h - 6, "#fdecea" if bad else "#ffffff",
                          COLOURS["down"] if bad else "#8aa", "2" if bad else "1"))
            out.append(_t(x + 20, vy + 14, vm["vm"] + ("" if vm["present"] else " (no interface)"), size=12,
                          weight="bold", anchor="start"))
            v4 = [p for p in vm["prefixes"] if ":" not in p]
            v6 = [p for p in vm["prefixes"] if ":" in p]
            out.append(_t(x + 20, vy + 29, "  ".join(v4)[:36] or "no IPv4", size=10, anchor="start", fill="#555"))
            out.append(_t(x + 20, vy + 41, "  ".join(v6)[:36] or "no IPv6", size=10, anchor="start", fill="#555"))
            if bad:
                out.append(_badge(x + w - 22, vy + 20, bad))

    # IPAM findings have no box: one line each under the nodes
    ipam = [f for f in findings if f["where"] == "ipam" and f["severity"] != "info"]
    for i, f in enumerate(ipam[:4]):
        out.append(_t(24, y_node + node_h + 22 + 16 * i, "IPAM - %s: %s" % (f["kind"].replace("_", " "), f["detail"]),
                      size=11, anchor="start", fill=COLOURS["down"]))
    if len(ipam) > 4:
        out.append(_t(24, y_node + node_h + 22 + 64, "IPAM: %d more findings in the report" % (len(ipam) - 4),
                      size=11, anchor="start", fill=COLOURS["down"]))

    # legend
    lx = 24
    out.append(_t(lx, legend_y - 8, "BGP sessions (IPv4 and IPv6 per pair):", size=11, anchor="start", fill="#555"))
    items = [("up", "Established"), ("partial", "one family down"), ("down", "down"), ("unknown", "not read")]
    for i, (st, text) in enumerate(items):
        x = lx + i * 170
        dash = ' stroke-dasharray="7,5"' if st in ("down", "unknown") else ""
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>'
                   % (x, legend_y + 10, x + 40, legend_y + 10, COLOURS[st], dash))
        out.append(_t(x + 48, legend_y + 14, text, size=11, anchor="start"))
    out.append('<rect x="%d" y="%d" width="28" height="16" rx="4" fill="#fdecea" stroke="%s" stroke-width="2"/>'
               % (lx, legend_y + 28, COLOURS["down"]))
    out.append(_t(lx + 36, legend_y + 41, "host or VM with findings (badge: how many; see the report)", size=11,
                  anchor="start"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Markdown and HTML

def _md(text):
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _speaker(node):
    """The node's BGP speaker as the report names it: FRR or BIRD."""
    return {"bird": "BIRD"}.get(node.get("flavour") or "frr", "FRR")


def _rows(view, findings, allocations):
    f_rows = [[f["severity"], f["kind"], f["where"], f.get("prefix") or "", f.get("vm") or "", f["detail"]]
              for f in findings]
    s_rows = [["%s - %s" % (s["a"], s["b"]), s["afi"], s["state"],
               "; ".join("%s: %s" % (k, v if v is not None else "not read") for k, v in s["ends"].items())]
              for s in view["sessions"]]
    vm_rows = []
    for n in view["nodes"]:
        for vm in n["vms"]:
            alloc = (allocations or {}).get(vm["vm"]) or {}
            vm_rows.append([vm["vm"], n["name"], vm["interface"] or "", " ".join(vm["prefixes"]),
                            " ".join(a for a in (alloc.get("ipv4"), alloc.get("ipv6")) if a) or "-"])
    host_rows = []
    for c in view["core_gateways"]:
        host_rows.append([c["name"], "core gateway", "yes" if c["reachable"] else "NO",
                          "%s IPv4 / %s IPv6 routes installed" % (c["installed"]["ipv4"], c["installed"]["ipv6"])
                          if c.get("checked") else (c.get("note") or "not checked")])
    for r in view["route_reflectors"]:
        host_rows.append([r["name"], "route reflector", "yes" if r["reachable"] else "NO",
                          "%s IPv4 / %s IPv6 prefixes received" % (r["received"]["ipv4"], r["received"]["ipv6"])])
    for n in view["nodes"]:
        host_rows.append([n["name"], "node (%s)" % _speaker(n), "yes" if n["reachable"] else "NO",
                          "%d VM%s" % (len(n["vms"]), "" if len(n["vms"]) == 1 else "s")])
    return f_rows, s_rows, vm_rows, host_rows


HEADERS = {
    "findings": ["severity", "kind", "where", "prefix", "VM", "detail"],
    "sessions": ["session", "family", "state", "what each end reports"],
    "vms": ["VM", "node", "interface", "prefixes", "IPAM allocation"],
    "hosts": ["host", "role", "read", "summary"],
}


def render_markdown(view, findings, allocations=None, title="vmnet.ipfabric fabric", generated="", svg_name=None):
    f_rows, s_rows, vm_rows, host_rows = _rows(view, findings, allocations)

    def table(head, rows):
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
        return lines

    out = ["# %s: %s" % (title, verdict(findings)), "",
           "%s. %s" % (counts_text(findings).capitalize(), ("Generated %s by vmnet.ipfabric.fabric_check." % generated)
                       if generated else "Generated by vmnet.ipfabric.fabric_check."), ""]
    if svg_name:
        out += ["![the fabric](%s)" % svg_name, ""]
    out += ["## Findings", ""]
    out += table(HEADERS["findings"], f_rows) if f_rows else ["No findings: IPAM, interfaces, kernel routes, "
                                                              "network statements, the RRs and the core agree."]
    out += ["", "## BGP sessions", ""] + (table(HEADERS["sessions"], s_rows) if s_rows else ["None in the design."])
    out += ["", "## VMs", ""] + (table(HEADERS["vms"], vm_rows) if vm_rows else ["No VMs on any node."])
    out += ["", "## Hosts", ""] + table(HEADERS["hosts"], host_rows)
    return "\n".join(out) + "\n"


def render_html(view, findings, svg, allocations=None, title="vmnet.ipfabric fabric", generated=""):
    f_rows, s_rows, vm_rows, host_rows = _rows(view, findings, allocations)
    colour = {"error": "#fdecea", "warning": "#fff4e0", "info": "#eef3fb"}

    def table(head, rows, sev_col=None):
        cells = ["<table><thead><tr>" + "".join("<th>%s</th>" % html.escape(h) for h in head) + "</tr></thead><tbody>"]
        for r in rows:
            style = ' style="background:%s"' % colour.get(r[sev_col], "#fff") if sev_col is not None else ""
            cells.append("<tr%s>" % style + "".join("<td>%s</td>" % html.escape(str(c)) for c in r) + "</tr>")
        return "".join(cells) + "</tbody></table>"

    svg_body = svg.split("?>", 1)[-1] if svg.startswith("<?xml") else svg
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>%s</title>" % html.escape(title),
             "<style>body{font-family:%s;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}"
             "th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left;vertical-align:top}"
             "th{background:#f0f0f0}.verdict{font-weight:bold}</style></head><body>" % FONT,
             "<h1>%s: <span class=\"verdict\">%s</span></h1>" % (html.escape(title), html.escape(verdict(findings))),
             "<p>%s.%s</p>" % (html.escape(counts_text(findings).capitalize()),
                               (" Generated %s by vmnet.ipfabric.fabric_check." % html.escape(generated))
                               if generated else ""),
             svg_body, "<h2>Findings</h2>",
             table(HEADERS["findings"], f_rows, 0) if f_rows else "<p>No findings.</p>",
             "<h2>BGP sessions</h2>", table(HEADERS["sessions"], s_rows),
             "<h2>VMs</h2>", table(HEADERS["vms"], vm_rows) if vm_rows else "<p>No VMs on any node.</p>",
             "<h2>Hosts</h2>", table(HEADERS["hosts"], host_rows), "</body></html>"]
    return "\n".join(parts) + "\n"
