"""``graphc dump --format html``: one self-contained page (inline SVG, CSS and a little
JavaScript; nothing fetched at view time) showing a program before and after optimization
side by side, fused kernels as boxes around the ops they cover, edges labeled with shapes,
a click on any box for its dtype, shape, source line and fusion decisions, and the memory
plan as a timeline of buffers over the schedule's steps.

The layout is computed here, in Python, by a layered layout over networkx (layout.py): no
JavaScript library to vendor, the same picture in every browser, and the tests can count
what is drawn. A graph of more than COLLAPSE_ABOVE ops opens with its name scopes (and the
kernels) collapsed into one box each; a button expands them.
"""
import html
import json

from .layout import Box, compound, layered

COLLAPSE_ABOVE = 60
NODE_W, NODE_H, TITLE_H = 150, 40, 18
SOURCES = ("placeholder", "variable", "constant")


def to_html(compiled, title):
    """The page for ``compiled`` (runtime.compiler.Compiled), titled ``title``."""
    before = compiled.stage(compiled.stages[0]).graph
    decisions = _decisions(compiled)
    kernel_of = {op: k for k, ops in (compiled.fusion.kernels if compiled.fusion else {}).items() for op in ops}
    big = len(before.nodes) > COLLAPSE_ABOVE
    views = {
        "before": [_svg(_ops_layout(before, group=big, collapsed=c), before, decisions, kernel_of)
                   for c in ((True, False) if big else (False,))],
        "after": [_svg(_after_layout(compiled.graph, collapsed=c), compiled.graph, decisions, kernel_of)
                  for c in ((True, False) if big else (False,))],
    }
    explained = compiled.explain()
    return _page(title, views, _timeline(explained), explained, len(before.nodes))


# -- what to draw ---------------------------------------------------------------------------
def _decisions(compiled):
    """{node name: [text of each fusion decision on an edge into or out of it]}."""
    out = {}
    for d in compiled.fusion.decisions if compiled.fusion else []:
        text = f"%{d.producer} -> %{d.consumer}: {'fused' if d.fused else 'not fused'}" + \
               (f" ({d.reason})" if d.reason else "")
        out.setdefault(d.producer, []).append(text)
        out.setdefault(d.consumer, []).append(text)
    return out


def _scope(name):
    return name.split("/", 1)[0] if "/" in name else None


def _ops_layout(graph, group, collapsed):
    """A graph's layout: its nodes, grouped into name-scope boxes when ``group`` (each scope
    one box when ``collapsed``)."""
    nodes = list(graph.nodes)
    if not group:
        return layered({n.name: Box(n.name, NODE_W, NODE_H) for n in nodes}, _edges(nodes))
    scopes = {}
    for n in nodes:
        scopes.setdefault(_scope(n.name) or n.name, []).append(n)
    unit = {n.name: (_scope(n.name) or n.name) for n in nodes}
    boxes = {}
    for key, members in scopes.items():
        if len(members) == 1 and members[0].name == key:
            boxes[key] = Box(("kernel:" if members[0].op == "fused" else "") + key, NODE_W, NODE_H)
        elif collapsed:
            boxes["scope:" + key] = Box("scope:" + key, NODE_W, NODE_H, count=len(members))
        else:
            inner = layered({n.name: Box(n.name, NODE_W, NODE_H) for n in members}, _edges(members))
            boxes["scope:" + key] = compound("scope:" + key, TITLE_H, inner)
    key_of = {name: (u if u in boxes else "scope:" + u) for name, u in unit.items()}
    return layered(boxes, [(key_of[a], key_of[b]) for a, b in _edges(nodes) if key_of[a] != key_of[b]])


def _after_layout(graph, collapsed):
    """The final IR's layout: each fused kernel a box around its body's ops; collapsed, its
    name scopes one box each (as the built graph's)."""
    if collapsed:
        return _ops_layout(graph, group=True, collapsed=True)
    boxes = {}
    for n in graph.nodes:
        if n.op != "fused" or collapsed:
            boxes[n.name] = Box(("kernel:" if n.op == "fused" else "") + n.name, NODE_W, NODE_H)
            continue
        body = _covered(n)
        boxes[n.name] = compound("kernel:" + n.name, TITLE_H,
                                 layered({m.name: Box(m.name, NODE_W, NODE_H) for m in body}, _edges(body)))
    return layered(boxes, _edges(graph.nodes))


def _edges(nodes):
    names = {n.name for n in nodes}
    return [(x.name, n.name) for n in nodes for x in dict.fromkeys(n.inputs) if x.name in names]


# -- drawing --------------------------------------------------------------------------------
def _svg(layout, graph, decisions, kernel_of):
    nodes = {n.name: n for n in graph.nodes}
    parts = []
    _draw(layout, 0, 0, nodes, decisions, kernel_of, parts)
    w, h = layout.width + 40, layout.height + 40
    return (f'<svg width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="-20 -20 {w:.0f} {h:.0f}">' + "".join(parts) + "</svg>")


def _draw(layout, ox, oy, nodes, decisions, kernel_of, parts):
    for a, b in layout.edges:
        parts.append(_edge(layout.boxes[a], layout.boxes[b], ox, oy, nodes.get(a)))
    for key, box in layout.boxes.items():
        x, y = ox + box.x, oy + box.y
        if box.key.startswith(("kernel:", "scope:")):
            kind, name = box.key.split(":", 1)
            node = nodes.get(name)
            count = len(_covered(node)) if node is not None and node.op == "fused" else None
            label = f"kernel {name}" if kind == "kernel" else f"scope {name}/" + (f" ({box.count})" if box.count else "")
            info = _info(node, decisions, kernel_of) if kind == "kernel" and node is not None else {"scope": name}
            parts.append(f'<g class="{kind}" data-info="{_attr(json.dumps(info))}">'
                         f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="8"/>'
                         f'<text x="{x + 8:.1f}" y="{y + 13:.1f}" class="title">{_text(label)}'
                         f'{"" if box.inner else _count(count, kind)}</text>'
                         f"<title>{_text(label)}</title></g>")
            if box.inner:   # (a kernel's ops by their own names: its last op shares the kernel's)
                inner = {m.name: m for m in node.attrs["body"].nodes} if kind == "kernel" else nodes
                _draw(box.inner, x + 14, y + 14 + TITLE_H, inner, decisions, kernel_of, parts)
            continue
        node = nodes.get(key)
        info = _info(node, decisions, kernel_of)
        cls = "node source" if node is not None and node.op in SOURCES else "node"
        tip = f"{key}: {info.get('op')} {info.get('type')}" + (f" at {info['source']}" if info.get("source") else "")
        parts.append(f'<g class="{cls}" data-info="{_attr(json.dumps(info))}">'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="5"/>'
                     f'<text x="{x + 6:.1f}" y="{y + 16:.1f}">{_text(_short(key))}</text>'
                     f'<text x="{x + 6:.1f}" y="{y + 31:.1f}" class="op">{_text(info.get("op", ""))} '
                     f'{_text(info.get("type", ""))}</text><title>{_text(tip)}</title></g>')


def _count(count, kind):
    return f" ({count} ops)" if count and kind == "kernel" else ""


def _covered(kernel):
    """The ops a fused kernel's body computes (not its inputs or inlined constants)."""
    return [m for m in kernel.attrs["body"].nodes if m.op not in ("placeholder", "constant")]


def _edge(a, b, ox, oy, producer):
    x1, y1 = ox + a.x + a.width / 2, oy + a.y + a.height
    x2, y2 = ox + b.x + b.width / 2, oy + b.y
    mid = (y1 + y2) / 2
    label = "" if producer is None or producer.shape is None else \
        "[" + ",".join("?" if d is None else str(d) for d in producer.shape) + "]"
    return (f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"/>'
            + (f'<text class="shape" x="{(x1 + x2) / 2 + 3:.1f}" y="{mid:.1f}">{label}</text>' if label else ""))


def _info(node, decisions, kernel_of):
    if node is None:
        return {}
    from ..ir.node import type_str
    info = {"name": node.name, "op": node.op, "type": type_str(node.dtype, node.shape) if node.dtype is not None
            else "none", "source": node.loc or "", "decisions": decisions.get(node.name, [])}
    if node.name in kernel_of:
        info["kernel"] = kernel_of[node.name]
    if node.op == "fused":
        info["covers"] = [m.name for m in _covered(node)]
    return info


def _timeline(explained):
    """The memory plan as an SVG: a bar per buffer over the schedule's steps."""
    steps, row, left = max(explained.steps, 1), 22, 220
    step_w = max(4, min(28, 1000 // steps))   # (a long schedule fits the page's width)
    parts = []
    for i, b in enumerate(explained.buffers):
        y = i * row
        where = ", ".join(loc for loc in b.locs if loc)
        parts.append(f'<g class="buffer"><text x="0" y="{y + 15}">{_text(_short(" <- ".join(b.values), 30))}</text>'
                     f'<rect x="{left + b.start * step_w}" y="{y + 3}" width="{(b.end - b.start + 1) * step_w}" '
                     f'height="{row - 6}" rx="3"/><title>{_text(" <- ".join(b.values))}: {b.size} bytes at offset '
                     f'{b.offset}, live {b.start}..{b.end}{" (" + where + ")" if where else ""}</title></g>')
    peak = explained.peak_step
    if peak is not None:
        parts.append(f'<line class="peak" x1="{left + (peak + 0.5) * step_w}" y1="0" x2="{left + (peak + 0.5) * step_w}" '
                     f'y2="{len(explained.buffers) * row}"/>')
    width, height = left + steps * step_w + 10, max(len(explained.buffers), 1) * row + 20
    every = max(1, -(-40 // step_w))   # a step number every 40 pixels or so
    ticks = "".join(f'<text class="tick" x="{left + s * step_w + 2}" y="{height - 4}">{s}</text>'
                    for s in range(0, steps, every))
    return (f'<svg width="{width}" height="{height}">' + "".join(parts)
            + ticks + "</svg>")


def _short(name, limit=22):
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


def _text(s):
    return html.escape(str(s), quote=False)


def _attr(s):
    return html.escape(s, quote=True)


STYLE = """
body{font:13px Helvetica,Arial,sans-serif;margin:0;color:#222}
header{padding:8px 14px;background:#1f2937;color:#fff}header b{font-size:15px}
header button{margin-left:12px}.layout svg{display:block}
main{display:flex;gap:8px;padding:8px}
section{flex:1;min-width:0}section h2{font-size:14px;margin:4px 0}
.scroll{overflow:auto;border:1px solid #ddd;max-height:70vh;background:#fcfcfc}
#details{width:300px;font-size:12px;white-space:pre-wrap;border:1px solid #ddd;padding:8px;max-height:70vh;overflow:auto}
.node rect{fill:#eef1f5;stroke:#7a8899}.node.source rect{fill:#fff4d6;stroke:#c9a13b}
.node text{font-size:11px}.node text.op{fill:#555;font-size:10px}
.kernel>rect{fill:rgba(31,111,235,.06);stroke:#1f6feb;stroke-dasharray:5 3}
.scope>rect{fill:rgba(120,120,120,.05);stroke:#888;stroke-dasharray:2 2}
text.title{fill:#1f6feb;font-size:11px;font-weight:bold}.scope text.title{fill:#555}
.edge{fill:none;stroke:#9aa3ad;stroke-width:1.2}text.shape{font-size:9px;fill:#777}
g.node,g.kernel,g.scope{cursor:pointer}g.selected>rect{stroke:#e11d48;stroke-width:2.5}
.buffer rect{fill:#8fb3e8}.buffer text{font-size:11px}.peak{stroke:#e11d48;stroke-dasharray:4 2}
.tick{font-size:9px;fill:#777}
"""

SCRIPT = """
const views = document.querySelectorAll('.view');
let expanded = false;
function show() {
  views.forEach(v => { const svgs = v.querySelectorAll('.layout');
    svgs.forEach((s, i) => { s.style.display = (svgs.length === 1 || (i === 1) === expanded) ? '' : 'none'; }); });
  const drawn = [...document.querySelectorAll('.layout')].filter(s => s.style.display !== 'none');
  document.body.dataset.drawnNodes = drawn.reduce((n, s) => n + s.querySelectorAll('g.node').length, 0);
  document.body.dataset.drawnKernels = drawn.reduce((n, s) => n + s.querySelectorAll('g.kernel').length, 0);
}
let zoom = 1;
function fit() {
  document.querySelectorAll('.layout svg').forEach(svg => {
    const w = +svg.getAttribute('width'), h = +svg.getAttribute('height');
    const room = svg.closest('.scroll').clientWidth - 4;
    const scale = Math.min(1, room / w) * zoom;
    svg.style.width = (w * scale) + 'px'; svg.style.height = (h * scale) + 'px'; });
}
document.getElementById('zoomin').onclick = () => { zoom *= 1.5; fit(); };
document.getElementById('zoomout').onclick = () => { zoom /= 1.5; fit(); };
window.addEventListener('resize', fit);
const toggle = document.getElementById('expand');
if (toggle) toggle.onclick = () => { expanded = !expanded;
  toggle.textContent = expanded ? 'collapse scopes and kernels' : 'expand scopes and kernels'; show(); fit(); };
document.querySelectorAll('g.node, g.kernel, g.scope').forEach(g => g.addEventListener('click', e => {
  e.stopPropagation();
  document.querySelectorAll('g.selected').forEach(s => s.classList.remove('selected'));
  g.classList.add('selected');
  const info = JSON.parse(g.dataset.info || '{}');
  document.getElementById('details').textContent = Object.entries(info).map(([k, v]) =>
    k + ': ' + (Array.isArray(v) ? '\\n  ' + v.join('\\n  ') : v)).join('\\n');
}));
show(); fit();
document.body.dataset.ready = '1';
"""


def _page(title, views, timeline, explained, ops):
    toggle = '<button id="expand">expand scopes and kernels</button>' if len(views["before"]) > 1 else ""
    toggle += '<button id="zoomin">zoom in</button><button id="zoomout">zoom out</button>'
    sections = "".join(
        f'<section class="view" id="{name}"><h2>{label}</h2><div class="scroll">'
        + "".join(f'<div class="layout">{svg}</div>' for svg in svgs) + "</div></section>"
        for name, label, svgs in (("before", f"as built ({ops} nodes)", views["before"]),
                                  ("after", f"optimized ({explained.kernels} kernels)", views["after"])))
    summary = (f"{explained.kernels} kernels, {explained.bytes_moved} bytes moved per run, arena "
               f"{explained.arena_bytes} bytes, {explained.flops} FLOPs")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_text(title)}</title>"
            f"<style>{STYLE}</style></head><body><header><b>graphc</b> {_text(title)} — {_text(summary)}{toggle}"
            f"</header><main>{sections}<div id='details'>click an op or a kernel</div></main>"
            f"<section style='padding:8px'><h2>memory plan: buffers over the schedule's steps (peak at step "
            f"{explained.peak_step})</h2><div class='scroll'>{timeline}</div></section>"
            f"<script>{SCRIPT}</script></body></html>")
