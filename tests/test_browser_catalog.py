"""The catalog (index.html) in real Chromium: cards drawn by index.js from the games' card
files (never the shards), in the catalog's order, with what each card says; filters and
search as you type, kept in the URL; and a simulated 25,500-entry site
(tests/simulation.py) on which the counts are exact and only the cards near the screen
exist."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

import pytest
from frontend_fixtures import build_checkpoint_site, build_fake_site, fake_manifest

from zoo_site.site.pages import write_pages

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 2400}


class Cards(HTMLParser):
    """Each card: its data attributes, its links, its image and the text of each span."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[dict] = []
        self._span: str | None = None
        self._in = False  # inside a card's <li> (cards hold no nested <li>)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and attrs.get("class") == "card":
            self._in = True
            self.cards.append({"data": attrs, "spans": {}, "links": [], "img": None})
        elif not self._in:
            return
        elif tag == "a":
            self.cards[-1]["links"].append(attrs)
        elif self.cards and tag == "img":
            self.cards[-1]["img"] = attrs
        elif self.cards and tag == "span" and attrs.get("class", "").startswith("card-"):
            self._span = attrs["class"]
            self.cards[-1]["spans"][self._span] = ""

    def handle_endtag(self, tag):
        if tag == "span":
            self._span = None
        elif tag == "li":
            self._in = False

    def handle_data(self, data):
        if self._span and self.cards:
            self.cards[-1]["spans"][self._span] += data


def settle(page) -> None:
    """Until the catalog has drawn what the last change asked for."""
    page.wait_for_selector("body[data-ready='1']:not([data-busy])", timeout=20_000)


def cards(page) -> list[dict]:
    settle(page)
    return Cards(page.inner_html("#catalog")).cards


def ids(found: list[dict]) -> list[str]:
    return ["/".join(c["data"][f"data-{k}"] for k in ("algo", "game", "run", "tag")) for c in found]


def viewer_query(card: dict) -> dict:
    return dict(parse_qsl(urlsplit(card["links"][0]["href"]).query))


@pytest.fixture(scope="module")
def fake(tmp_path_factory, serve):
    site_dir = tmp_path_factory.mktemp("catalog")
    return serve(site_dir), build_fake_site(site_dir)


def test_every_card_in_the_catalogs_order_with_its_poster_and_link(fake, watched):
    base, manifest = fake
    watched.open(f"{base}index.html")
    found = cards(watched.page)
    assert ids(found) == [  # by game (the manifest's order), then algo, run and tag
        "apex/Seaquest/1/initial", "apex/Seaquest/1/final", "apex/Seaquest/2/final",
        "dqn/Seaquest/1/final", "apex/Pong/1/final", "dqn/Pong/2/initial", "dqn/Pong/2/final",
    ]  # fmt: skip
    by_id = {e["id"]: e for e in manifest["entries"]}
    for card, entry_id in zip(found, ids(found), strict=True):
        entry = by_id[entry_id]
        assert card["links"][0]["href"] == (f"video.html?algo={entry['algo']}&game={entry['game']}"
                                            f"&run={entry['run']}&tag={entry['tag']}")  # fmt: skip
        img = card["img"]
        assert img["src"] == entry["poster"] and img["loading"] == "lazy"
        assert img["alt"].startswith(("Ape-X playing", "DQN (Dopamine) playing"))
        score = card["spans"]["card-score"]
        if entry["episode_returns"]:
            r = entry["episode_returns"][0]
            assert score == f"Best {r:g} · mean {r:g} (1 episode)"
        else:
            assert score == f"No episode ended · score {entry['score']:g}"
    assert watched.page.text_content("#count") == "7 agents"
    assert watched.page.text_content("#game-Pong .game-count") == "3 agents"
    assert watched.errors == []


def test_filters_and_search_as_you_type_kept_in_the_url(fake, watched):
    base, _ = fake
    watched.open(f"{base}index.html")
    page = watched.page
    page.select_option("#f-algo", "dqn")
    assert ids(cards(page)) == ["dqn/Seaquest/1/final", "dqn/Pong/2/initial", "dqn/Pong/2/final"]
    page.fill("#f-q", "pong run 2")
    assert ids(cards(page)) == ["dqn/Pong/2/initial", "dqn/Pong/2/final"]
    assert page.text_content("#count") == "2 of 7 agents"
    assert page.text_content("#game-Pong .game-count") == "2 of 3 agents"
    assert page.is_hidden("#game-Seaquest") and page.is_hidden(".toc li[data-game='Seaquest']")
    assert watched.query() == {"algo": "dqn", "q": "pong run 2"}
    # A block whose cards stay the same is kept as drawn; one whose cards change is redrawn.
    mark = "() => { document.querySelector('#game-Pong .card').dataset.mark = '1'; }"
    page.evaluate(mark)
    page.fill("#f-q", "pong run")
    assert [c["data"].get("data-mark") for c in cards(page)] == ["1", None]
    page.fill("#f-q", "Initial")  # a tag's label
    assert [c["data"].get("data-mark") for c in cards(page)] == [None]
    assert ids(cards(page)) == ["dqn/Pong/2/initial"]
    page.fill("#f-q", "")
    assert ids(cards(page)) == ["dqn/Seaquest/1/final", "dqn/Pong/2/initial", "dqn/Pong/2/final"]
    page.fill("#f-q", "Initial")
    page.fill("#f-q", "no such agent")
    assert cards(page) == [] and page.is_visible("#none")
    # What was drawn came from the card files of the games shown; no shard was read.
    assert not [u for u in watched.requests if "/manifests/" in u]
    assert sorted(urlsplit(u).path for u in watched.requests if "/cards/" in u) == [
        "/cards/Pong.json", "/cards/Seaquest.json"]  # fmt: skip
    # The filters are a deep link too; values the page does not offer are left out.
    watched.open(f"{base}index.html?game=Seaquest&tag=final&algo=nope")
    assert ids(cards(page)) == ["apex/Seaquest/1/final", "apex/Seaquest/2/final",
                                "dqn/Seaquest/1/final"]  # fmt: skip
    assert page.input_value("#f-algo") == ""
    assert watched.errors == []


def test_a_games_link_opens_its_section(fake, watched):
    base, _ = fake
    watched.page.set_viewport_size({"width": 1280, "height": 400})
    watched.open(f"{base}index.html#game-Pong")
    settle(watched.page)
    top = watched.page.evaluate("document.getElementById('game-Pong').getBoundingClientRect().top")
    assert abs(top) < 5


def test_card_text_is_encoded_and_escaped(tmp_path, serve, watched):
    manifest = fake_manifest()
    odd = manifest["entries"][0]
    odd["tag"] = "a&b=c"  # not a valid name; the encoding must still hold
    manifest["tags"].append({"id": "a&b=c", "label": "<b>Odd</b>"})
    write_pages(tmp_path, manifest)
    watched.open(f"{serve(tmp_path)}index.html")
    (card,) = [c for c in cards(watched.page) if c["data"]["data-tag"] == "a&b=c"]
    assert "tag=a%26b%3Dc" in card["links"][0]["href"]
    assert viewer_query(card)["tag"] == "a&b=c"
    assert card["spans"]["card-title"] == "Run 2 · <b>Odd</b>"  # as text, not markup
    assert watched.page.locator("#catalog b").count() == 0


def test_a_card_says_its_entrys_returns_and_score(tmp_path, serve, watched):
    """What a card says comes from the card file, worked out at build time from the
    entry's returns: the best, the mean (rounded as shown), how many; cards keep the
    catalog's order when a run is split between sources."""
    manifest = fake_manifest()
    entries = {e["id"]: e for e in manifest["entries"]}
    entries["apex/Seaquest/1/final"]["episode_returns"] = [0.1, 0.2, 0.4, 7.25]
    entries["dqn/Pong/2/final"]["episode_returns"] = [-3.0]
    entries["apex/Seaquest/1/initial"]["score"] = None  # an episode file records no score
    entries["dqn/Pong/2/initial"]["source"] = "episodes"  # run 2 in two groups of the index
    write_pages(tmp_path, manifest)
    watched.open(f"{serve(tmp_path)}index.html")
    found = cards(watched.page)
    said = {i: c["spans"]["card-score"] for i, c in zip(ids(found), found, strict=True)}
    # A run whose checkpoints come from two sources still lists them in tag order.
    assert [i for i in ids(found) if i.startswith("dqn/Pong/")] == [
        "dqn/Pong/2/initial", "dqn/Pong/2/final"]  # fmt: skip
    assert said["apex/Seaquest/1/final"] == "Best 7.25 · mean 1.99 (4 episodes)"
    assert said["dqn/Pong/2/final"] == "Best -3 · mean -3 (1 episode)"
    assert said["apex/Seaquest/1/initial"] == "Score not recorded"
    assert said["dqn/Pong/2/initial"] == "No episode ended · score 21"


def test_checkpoint_cards_show_protocol_and_training_step(tmp_path, serve, watched):
    manifest = build_checkpoint_site(tmp_path)
    watched.open(f"{serve(tmp_path)}index.html")
    found = cards(watched.page)
    assert len(found) == len(manifest["entries"]) == 25
    by_id = {e["id"]: e for e in manifest["entries"]}
    for card, entry_id in zip(found, ids(found), strict=True):
        entry = by_id[entry_id]
        meta = card["spans"].get("card-meta")
        if entry["training_step"] is None:
            assert meta is None  # apex/Pong/1/final: no protocol, no training step
            continue
        short = {0: "0", 10_000_000: "10M", 50_000_000: "50M"}.get(entry["training_step"])
        assert meta.startswith("modern · ") and meta.endswith(" agent steps")
        if short:
            assert meta == f"modern · {short} agent steps"
        returns = entry["episode_returns"]
        if not returns:
            assert card["spans"]["card-score"] == "No episode ended · score -5"
        else:
            best, mean = max(returns), sum(returns) / len(returns)
            assert card["spans"]["card-score"] == f"Best {best:g} · mean {mean:g} (2 episodes)"
    activations = [c for c in found if len(c["links"]) == 2]
    assert ids(activations) == ["DQN_modern/Pong/1/20000000"]
    assert activations[0]["links"][1]["href"].startswith("video2.html?algo=DQN_modern")
    # The search knows the source and the protocol.
    watched.page.fill("#f-q", "atari-agents modern")
    assert len(cards(watched.page)) == 24
    watched.page.fill("#f-q", "atari-model-zoo")
    assert ids(cards(watched.page)) == ["apex/Pong/1/final"]
    assert watched.errors == []


# ---- 25,500 entries ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge(tmp_path_factory, serve):
    """The simulated atari-agents-sized site (tests/simulation.py), served."""
    import simulation

    work = tmp_path_factory.mktemp("simulation")
    simulation.build_site(work / "site", work / "work")
    return serve(work / "site")


def drawn(page) -> int:
    return page.locator("#catalog .card").count()


def test_a_site_of_25500_entries_draws_only_what_is_near_the_screen(huge, browser):
    import json
    from urllib.request import urlopen

    with urlopen(f"{huge}manifest.json") as response:  # the catalog's order of games
        games = [g["id"] for g in json.load(response)["games"]]
    import simulation

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        from browsing import Watched

        watched = Watched(context.new_page())
        watched.open(f"{huge}index.html")
        page = watched.page
        settle(page)
        assert page.text_content("#count") == "25500 agents"
        first = drawn(page)
        assert 0 < first < 600, first
        # The first load reads the root index and the first game's card file, no shard.
        assert not [u for u in watched.requests if "/manifests/" in u]
        card_files = [urlsplit(u).path for u in watched.requests if "/cards/" in u]
        assert card_files == [f"/cards/{games[0]}.json"]
        # Exact counts from the root index alone, as you type.
        page.select_option("#f-algo", "DQN_classic")
        settle(page)
        classic = sum(a == "DQN_classic" for i in range(len(simulation.GAMES))
                      for a, _ in simulation.runs_of(i))  # fmt: skip
        assert classic == 3 * 20 + 2 * 40  # the simulation's runs: 3 seeds, then 2
        assert page.text_content("#count") == f"{classic * 51} of 25500 agents"
        page.fill("#f-q", "pong 50M")
        found = cards(page)
        pong = simulation.runs_of(simulation.GAMES.index("Pong"))
        assert ids(found) == [f"DQN_classic/Pong/{seed}/50000000" for a, seed in pong
                              if a == "DQN_classic"]  # fmt: skip
        page.fill("#f-q", "")
        page.select_option("#f-algo", "")
        settle(page)
        before = len(watched.requests)
        page.select_option("#f-tag", "0")
        settle(page)
        assert page.text_content("#count") == f"{25500 // 51} of 25500 agents"
        # The games that came near the screen had their card files read, once each; no
        # other file and no shard.
        found = cards(page)
        assert found and {c["data"]["data-tag"] for c in found} == {"0"}
        near = list(dict.fromkeys(c["data"]["data-game"] for c in found))
        assert near == games[: len(near)] and len(near) > 1
        earlier = {urlsplit(u).path for u in watched.requests[:before] if "/cards/" in u}
        new = [urlsplit(u).path for u in watched.requests[before:] if ".json" in u]
        assert new == [f"/cards/{g}.json" for g in near if f"/cards/{g}.json" not in earlier]
        assert not [u for u in watched.requests if "/manifests/" in u]
        # Far down the page: the last game's cards are drawn, the first game's dropped.
        page.select_option("#f-tag", "")
        settle(page)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        last = games[-1]
        page.wait_for_selector(f"#game-{last} .card", timeout=10_000)
        page.wait_for_timeout(300)
        assert page.locator(f"#game-{games[0]} .card").count() == 0
        assert drawn(page) < 600
        assert watched.errors == []
    finally:
        context.close()
