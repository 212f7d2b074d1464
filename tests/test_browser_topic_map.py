"""The Topic map and Concepts tabs in a real headless Chromium, over the shipped note plus the external
corpora (~270 cards): nodes coloured by family, hover shows the question, a click opens the card."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from tests.support import ALEXEY, SALVATORE, copy_shipped_corpus, load_kb, open_page, serve_app

pytestmark = pytest.mark.browser
WGAN = "why-did-wgan-improve-on-the-original-gan-loss"


@pytest.fixture(scope="module")
def big_kb(tmp_path_factory, encoder, external_corpora):
    corpus = copy_shipped_corpus(tmp_path_factory.mktemp("topicmap"))
    for name in (ALEXEY, SALVATORE):  # copied into a temporary corpus, never into the project
        shutil.copy(external_corpora / name, corpus / name)
    return load_kb(corpus, encoder)


@pytest.fixture(scope="module")
def big_app_url(big_kb):
    """The real app over big_kb (shipped notes + external corpora) on a free port, for this module."""
    server = serve_app(big_kb)
    yield server.url
    server.close()


def test_map_layout_is_readable_with_all_corpora(big_kb):
    from kb.ui.topic_map_tab import HEIGHT, WIDTH, map_html

    graph = big_kb.topic_graph(3)
    assert len(graph.nodes) == len(big_kb.cards()) >= 250
    html = map_html(graph)
    centres = np.array([(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', html)])
    assert len(centres) == len(big_kb.cards())
    assert (centres >= 0).all() and (centres[:, 0] <= WIDTH).all() and (centres[:, 1] <= HEIGHT).all()
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(len(centres)) * 1e9
    assert np.median(gaps.min(axis=1)) >= 8  # most nodes have room around them
    assert (gaps.min(axis=1) < 1).mean() < 0.05  # almost none sit on top of another
    fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', html))
    assert len(fills) == len({n["family"] for n in graph.nodes})  # one colour per family


def test_hover_shows_the_question_and_click_opens_the_card(browser, big_app_url, big_kb):
    from playwright.sync_api import expect

    page = open_page(browser, big_app_url)
    page.get_by_role("tab", name="Topic map").click()
    nodes = page.locator("#kb-topic-map a.kb-map-node")
    expect(nodes).to_have_count(len(big_kb.cards()), timeout=60_000)
    node = page.locator(f'#kb-topic-map a.kb-map-node[data-kb-card="{WGAN}"]')
    expect(node.locator("title")).to_have_text(f"{big_kb.card(WGAN).question} — GAN Losses")
    node.hover()
    expect(node).to_have_class(re.compile("kb-hot"))  # hovering lights up the node and its links
    expect(page.locator("#kb-topic-map .kb-map-hover")).to_have_text(f"{big_kb.card(WGAN).question} — GAN Losses")
    assert page.locator("#kb-topic-map line.kb-hot").count() >= 1
    node.locator("circle").click()
    expect(page.get_by_role("tab", selected=True)).to_have_text("Browse")
    expect(page.locator("#kb-card-header")).to_contain_text(big_kb.card(WGAN).question)
    expect(page.locator("#kb-current-card textarea")).to_have_value(WGAN)
    page.close()


def test_family_filter_draws_that_family_and_its_neighbours(browser, big_app_url, big_kb):
    from playwright.sync_api import expect

    page = open_page(browser, big_app_url)
    page.get_by_role("tab", name="Topic map").click()
    expect(page.locator("#kb-topic-map a.kb-map-node")).to_have_count(len(big_kb.cards()), timeout=60_000)
    page.locator("#kb-map-family input").click()
    page.get_by_role("option", name="GAN Losses").click()
    gan = [c.id for c in big_kb.family_cards("GAN Losses")]
    drawn = page.locator("#kb-topic-map a.kb-map-node")
    expect(drawn).not_to_have_count(len(big_kb.cards()))
    ids = set(drawn.evaluate_all("nodes => nodes.map(n => n.getAttribute('data-kb-card'))"))
    assert set(gan) <= ids and len(ids) < len(big_kb.cards()) // 4
    page.close()


def test_concepts_tab_lists_homes_and_mentions_and_opens_cards(browser, big_app_url, big_kb):
    from playwright.sync_api import expect

    page = open_page(browser, big_app_url)
    page.get_by_role("tab", name="Concepts").click()
    row = page.locator('#kb-concepts tr[data-concept="WGAN"]')
    expect(row).to_have_count(1, timeout=60_000)
    expect(row.locator("td").nth(1)).to_contain_text(big_kb.card(WGAN).question)
    expect(row.locator("td").nth(2)).to_contain_text("spectral normalization")
    page.locator("#kb-concepts-filter textarea, #kb-concepts-filter input").first.fill("RLHF")
    expect(page.locator('#kb-concepts tr[data-concept="WGAN"]')).to_have_count(0)
    rlhf = page.locator('#kb-concepts tr[data-concept="RLHF"]')
    rlhf.locator("td").nth(1).locator("a").click()
    expect(page.locator("#kb-card-header")).to_contain_text("Walk me through the RLHF pipeline.")
    page.close()
