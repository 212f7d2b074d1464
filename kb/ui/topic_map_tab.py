"""Topic map tab: every card a node coloured by family, see-also links as edges; hover shows the
question, a click opens the card.

The layout comes from the topic graph (kb/links/layout.py: a force layout that keeps families
together); this module draws it as inline SVG: no CDN, no graph library. Each node is an `<a data-kb-card>` that the app's navigation
script (kb/ui/nav.py) opens in place; hovering a node also lights up its links (js_on_load).
"""
from __future__ import annotations

import colorsys
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from kb import TopicGraph
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

WIDTH, HEIGHT, MARGIN = 1000, 680, 24
LINKS_PER_CARD = 3
ALL_FAMILIES = "All families"

# Highlight a hovered node's edges and neighbours; delegated, so it survives re-renders of the SVG.
HOVER_JS = """
element.addEventListener('mouseover', function (event) {
  const node = event.target.closest && event.target.closest('.kb-map-node');
  const svg = element.querySelector('svg.kb-map');
  if (!svg) return;
  svg.querySelectorAll('.kb-hot').forEach(function (el) { el.classList.remove('kb-hot'); });
  const label = element.querySelector('.kb-map-hover');
  if (!node) { svg.classList.remove('kb-focus'); return; }
  const id = node.getAttribute('data-kb-card');
  if (label) label.textContent = node.getAttribute('data-label') || '';
  svg.classList.add('kb-focus');
  node.classList.add('kb-hot');
  svg.querySelectorAll('line[data-a="' + id + '"], line[data-b="' + id + '"]').forEach(function (line) {
    line.classList.add('kb-hot');
    const other = line.getAttribute('data-a') === id ? line.getAttribute('data-b') : line.getAttribute('data-a');
    const peer = svg.querySelector('.kb-map-node[data-kb-card="' + other + '"]');
    if (peer) peer.classList.add('kb-hot');
  });
});
element.addEventListener('mouseleave', function () {
  const svg = element.querySelector('svg.kb-map');
  if (svg) { svg.classList.remove('kb-focus'); svg.querySelectorAll('.kb-hot').forEach(function (el) { el.classList.remove('kb-hot'); }); }
});
"""


def family_colours(families: list[str]) -> dict[str, str]:
    """A distinct colour per family: hues spaced by the golden angle, two lightness bands."""
    colours = {}
    for n, family in enumerate(families):
        hue = (n * 0.618033988749895) % 1.0
        light = 0.42 if n % 2 == 0 else 0.56
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.65)
        colours[family] = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return colours


def map_html(graph: TopicGraph, family: str | None = None) -> str:
    """The SVG map (and a family legend) for a kb.links.TopicGraph, optionally one family and its links."""
    nodes = graph.nodes
    families = list(dict.fromkeys(node["family"] for node in nodes))
    colours = family_colours(families)
    keep, edges, pos = graph.view(family if family and family != ALL_FAMILIES else None)
    if not keep:
        return '<div class="kb-map-empty">No cards to draw.</div>'
    group_names = list(dict.fromkeys(nodes[i]["family"] for i in keep))
    xy = MARGIN + pos * np.array([WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN])
    degree = np.bincount([e for a, b, _ in edges for e in (a, b)], minlength=len(keep))

    parts = [f'<svg class="kb-map" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Topic map: {len(keep)} cards, {len(edges)} links">']
    parts.append('<g class="kb-map-edges">')
    for a, b, reason in edges:
        (x1, y1), (x2, y2) = xy[a], xy[b]
        ida, idb = escape(nodes[keep[a]]["id"]), escape(nodes[keep[b]]["id"])
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" data-a="{ida}" data-b="{idb}"><title>{escape(reason)}</title></line>')
    parts.append("</g><g class=\"kb-map-nodes\">")
    for new, old in enumerate(keep):
        node = nodes[old]
        x, y = xy[new]
        r = 4.5 + 1.2 * np.sqrt(degree[new])
        card_id = escape(node["id"])
        label = escape(f'{node["question"]} — {node["family"]}')
        parts.append(
            f'<a class="kb-map-node" href="?card={card_id}" data-kb-card="{card_id}" data-label="{label}" aria-label="{escape(node["question"])}">'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colours[node["family"]]}"/><title>{label}</title></a>'
        )
    parts.append("</g></svg>")
    legend = "".join(
        f'<span class="kb-map-key"><span class="kb-map-swatch" style="background:{colours[f]}"></span>{escape(f)}</span>' for f in group_names
    )
    caption = f"{len(keep)} cards · {len(edges)} links · hover a node for its question, click to open it"
    hover = '<div class="kb-map-hover" aria-live="polite">Hover a node to see its question; click it to open the card.</div>'
    return f'<div class="kb-map-wrap">{hover}{"".join(parts)}<div class="kb-map-caption">{caption}</div><div class="kb-map-legend">{legend}</div></div>'


class MapCache:
    """The topic graph is built once per index (the see-also links of every card), then reused."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._graph: TopicGraph | None = None
        self._html: dict[str, str] = {}

    def graph(self) -> TopicGraph:
        graph = self.kb.topic_graph(LINKS_PER_CARD)  # cached per index by the knowledge base
        if graph is not self._graph:  # a new index: redraw
            self._graph, self._html = graph, {}
        return graph

    def html(self, family: str | None) -> str:
        graph = self.graph()
        key = family or ALL_FAMILIES
        if key not in self._html:
            self._html[key] = map_html(graph, key)
        return self._html[key]


def build(kb: KnowledgeBase, nav: Nav, **_services: Any) -> None:
    import gradio as gr

    cache = MapCache(kb)
    choices = [ALL_FAMILIES] + [name for name, _ in kb.families()]
    family = gr.Dropdown(choices=choices, value=ALL_FAMILIES, label="Show", elem_id="kb-map-family")
    graph = gr.HTML('<div class="kb-map-empty">Drawing the map…</div>', elem_id="kb-topic-map", js_on_load=HOVER_JS)
    family.change(cache.html, inputs=family, outputs=graph, show_progress="minimal")
    nav.demo.load(lambda: cache.html(ALL_FAMILIES), outputs=graph, show_progress="hidden")
