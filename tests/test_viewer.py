"""graphc dump --format html: the self-contained page, checked as text and in headless
Chromium (installed by this test's set-up where missing and possible; skipped otherwise)."""
import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc.tools.viewer import COLLAPSE_ABOVE, to_html


def _compiled_mlp():
    x = gc.placeholder(gc.float32, (16, 8), name="x")
    with gc.name_scope("dense"):
        w = gc.Variable(np.ones((8, 4), np.float32), name="w")
        h = gc.relu(x @ w)
    y = gc.nn.softmax(h * 2.0)
    with gc.Session() as sess:
        return sess.compile([y, gc.argmax(y, axis=1)], {x: (16, 8)})


def _compiled_training(layers=20):
    """A training graph of some 300 nodes (forward, gradients, Adam): more than COLLAPSE_ABOVE."""
    x = gc.placeholder(gc.float32, (8, 6), name="x")
    h = x
    for i in range(layers):
        with gc.name_scope(f"layer{i}"):
            h = gc.tanh(h @ gc.Variable(np.full((6, 6), 0.1, np.float32), name="w"))
    loss = gc.mean(h * h)
    step = gc.train.Adam(0.01).minimize(loss)
    with gc.Session() as sess:
        return sess.compile([step, loss], {x: (8, 6)})


def _expected(compiled):
    """(nodes, kernels) the expanded views draw: every node as built; after optimization
    every op outside a kernel plus every op inside one, and every kernel."""
    before = len(compiled.stage(compiled.stages[0]).graph.nodes)
    fused = [n for n in compiled.graph.nodes if n.op == "fused"]
    inside = sum(len([m for m in n.attrs["body"].nodes if m.op not in ("placeholder", "constant")]) for n in fused)
    return before + len(compiled.graph.nodes) - len(fused) + inside, len(fused)


def _layouts(page):
    return re.findall(r'<div class="layout">(.*?)</svg></div>', page, re.S)


def test_a_small_program_draws_every_op_and_kernel_and_names_nothing_outside():
    compiled = _compiled_mlp()
    page = to_html(compiled, "mlp")
    nodes, kernels = _expected(compiled)
    layouts = _layouts(page)
    assert len(layouts) == 2   # before and after, nothing collapsed
    assert sum(svg.count('<g class="node') for svg in layouts) == nodes
    assert sum(svg.count('<g class="kernel"') for svg in layouts) == kernels >= 1
    assert not re.search(r"https?:|\bsrc=|\bhref=|url\(|@import", page)   # nothing to fetch
    info = [json.loads(json.loads(f'"{m}"'.replace("&quot;", '\\"'))) for m in
            re.findall(r'<g class="node"[^>]*data-info="([^"]*)"', page)]
    relu = next(i for i in info if i.get("op") == "relu")
    assert relu["type"] == "f32[16,4]" and "test_viewer.py" in relu["source"] and relu["kernel"]
    assert any("fused" in d for d in relu["decisions"])
    assert page.count('<g class="buffer">') == len(compiled.explain().buffers)
    assert '<text class="shape"' in page and ">[16,4]</text>" in page   # edges labeled with shapes


def test_a_training_graph_opens_with_its_scopes_collapsed():
    compiled = _compiled_training()
    assert len(compiled.stage(compiled.stages[0]).graph.nodes) >= 300 > COLLAPSE_ABOVE
    page = to_html(compiled, "training")
    collapsed_before, expanded_before, collapsed_after, expanded_after = _layouts(page)
    assert collapsed_before.count('<g class="scope"') >= 20   # a box per layer scope (and gradients, Adam)
    assert expanded_before.count('<g class="node') == len(compiled.stage(compiled.stages[0]).graph.nodes)
    nodes, kernels = _expected(compiled)
    assert expanded_before.count('<g class="node') + expanded_after.count('<g class="node') == nodes
    assert expanded_after.count('<g class="kernel"') == kernels
    assert collapsed_after.count("<g ") < expanded_after.count("<g ")
    covers = {n.name: len([m for m in n.attrs["body"].nodes if m.op not in ("placeholder", "constant")])
              for n in compiled.graph.nodes if n.op == "fused"}
    labels = dict(re.findall(r'class="title">kernel ([^<(]+) \((\d+) ops\)', collapsed_after))
    assert labels and all(covers[name] == int(n) for name, n in labels.items())   # a collapsed kernel's op count
    assert 'id="expand"' in page


# (the test's own probe, added to its copy of the page: every resource the page fetched)
RESOURCES = ("<script>addEventListener('load', () => document.body.dataset.resources = "
             "JSON.stringify(performance.getEntriesByType('resource').map(e => e.name)))</script>")


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, env=env, timeout=900)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("headless Chromium is not installed and could not be installed here "
                    "(Debian: apt-get install chromium)")
    return found


def _browse(chromium, page, *flags, tmp_path):
    quiet = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--no-pings", "--disable-features=SpellCheck,Translate,OptimizationHints",
             "--disable-client-side-phishing-detection", "--metrics-recording-only"]   # (the browser's own traffic)
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *quiet,
                           f"--user-data-dir={tmp_path / 'profile'}", *flags, page.as_uri()],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("program", ["mlp", "training"])
def test_the_page_in_headless_chromium(program, tmp_path):
    chromium = _chromium()
    compiled = _compiled_mlp() if program == "mlp" else _compiled_training()
    page = tmp_path / "graph.html"
    page.write_text(to_html(compiled, program).replace("</body>", RESOURCES + "</body>"))
    dom = _browse(chromium, page, "--dump-dom", tmp_path=tmp_path).stdout
    assert 'data-ready="1"' in dom, dom[-2000:]
    layouts = _layouts(page.read_text())
    shown = layouts[:1] + layouts[2:3] if len(layouts) == 4 else layouts   # (collapsed first)
    drawn_nodes = int(re.search(r'data-drawn-nodes="(\d+)"', dom).group(1))
    drawn_kernels = int(re.search(r'data-drawn-kernels="(\d+)"', dom).group(1))
    assert drawn_nodes == sum(svg.count('<g class="node') for svg in shown) > 0
    assert drawn_kernels == sum(svg.count('<g class="kernel"') for svg in shown)
    if program == "mlp":
        assert (drawn_nodes, drawn_kernels) == _expected(compiled)
    fetched = json.loads(html.unescape(re.search(r'data-resources="([^"]*)"', dom).group(1)))
    assert fetched == [], fetched   # every resource the page loaded (Resource Timing): none
    shot = tmp_path / "graph.png"
    _browse(chromium, page, f"--screenshot={shot}", "--window-size=1500,1000", tmp_path=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"   # (kept in pytest's tmp_path to look at)


def test_the_probe_sees_a_page_fetch(tmp_path):
    """The Resource Timing probe above lists even a failed fetch (here to a closed loopback port)."""
    chromium = _chromium()
    page = tmp_path / "fetching.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png">' + RESOURCES + "</body></html>")
    dom = _browse(chromium, page, "--dump-dom", tmp_path=tmp_path).stdout
    fetched = json.loads(html.unescape(re.search(r'data-resources="([^"]*)"', dom).group(1)))
    assert fetched == ["http://127.0.0.1:9/x.png"]
