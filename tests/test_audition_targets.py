"""Audition for any target: profiles, percussiveness, ranking by a target example, advice, and the page's selection player."""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_nmf.audition import audition
from realtime_nmf.audition.features import contribution_share, mask_energy_shares, percussiveness
from realtime_nmf.audition.profiles import PROFILES, get_profile
from realtime_nmf.audition.reference import ISOLATES, rank_by_example
from realtime_nmf.decompose import decompose
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import ParameterError
from realtime_nmf.training import learn_dictionary

from .test_audition import BUNDLED, SR, bundled_heart, browser  # noqa: F401  (browser is a fixture)


# --------------------------------------------------------------------------------------
# features


def test_percussiveness_tells_hits_from_held_notes_and_noise():
    frame_rate = 100.0
    rng = np.random.default_rng(0)
    t = np.arange(1000)
    hits = np.zeros(1000)
    hits[::50] = 1.0
    hits = np.convolve(hits, np.exp(-np.arange(20) / 5.0))[:1000]  # attack, then a 50 ms decay, twice a second
    held = 1.0 + 0.2 * np.sin(2 * np.pi * 0.25 * t / frame_rate)  # a note swelling over 4 s
    noise = 1.0 + 0.3 * rng.random(1000)  # a steady noise: frame-to-frame jitter only
    assert percussiveness(hits, frame_rate) > get_profile("percussion").marks[1]  # at least "maybe" percussive
    assert percussiveness(held, frame_rate) < 0.01
    assert percussiveness(noise, frame_rate) < 0.05
    assert math.isnan(percussiveness(np.zeros(100), frame_rate))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-10, 1e3)), min_size=1, max_size=400), st.floats(10, 500), st.floats(1e-3, 1e3))
def test_percussiveness_is_a_share_and_ignores_the_level(h, frame_rate, gain):
    h = np.array(h)
    value = percussiveness(h, frame_rate)
    if not h.any():
        assert math.isnan(value)
        return
    assert 0.0 <= value <= 1.0
    assert percussiveness(gain * h, frame_rate) == pytest.approx(value, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.integers(2, 6), st.integers(3, 40))
def test_contributions_of_parts_that_sum_to_a_signal_add_up_to_100(seed, n_parts, n_samples):
    rng = np.random.default_rng(seed)
    parts = rng.standard_normal((n_parts, n_samples))
    y = parts.sum(axis=0)
    assert sum(contribution_share(p, y) for p in parts) == pytest.approx(100.0, abs=1e-6)


def test_mask_energy_shares_add_up_with_what_the_model_does_not_explain(small_dictionary, stethoscope):
    d = small_dictionary
    S, H = decompose(d, stethoscope["mixture"][:20000])
    V, P = np.abs(S), np.abs(S) ** 2
    shares = mask_energy_shares(d.W, H, V, P)
    unexplained = 100 * float((P * (1 - (d.W @ H) / np.maximum(d.W @ H, V))).sum() / P.sum())
    assert shares.min() >= 0 and shares.sum() + unexplained == pytest.approx(100.0, rel=1e-4)


# --------------------------------------------------------------------------------------
# profiles and the table


def test_profiles_by_name():
    assert set(PROFILES) == {"general", "heartbeat", "percussion"}
    assert get_profile("general").column == "" and get_profile("heartbeat").preset_name == "heartbeat"
    with pytest.raises(ParameterError, match="is not one of general, heartbeat, percussion"):
        get_profile("drums")


@pytest.fixture(scope="module")
def heart_example(stethoscope, tmp_path_factory):
    """Four seconds of the heart alone, from the synthesised recording: not aligned with the clip."""
    from realtime_nmf.demo import synthesize_stethoscope

    path = tmp_path_factory.mktemp("example") / "heart_alone.wav"
    sf.write(path, synthesize_stethoscope(duration=40.0)["heart"][26 * SR : 30 * SR], SR, subtype="FLOAT")
    return path


def test_general_profile_is_neutral(clip_file, tmp_path):
    report = audition(BUNDLED, clip_file, tmp_path / "a")
    header = report.table().splitlines()[0]
    assert "heartbeat" not in header and "percussive" in header
    page = report.page.read_text()
    assert "heartbeat" not in page.split("<main>")[0].lower() or "tick likely" not in page
    assert 'id="tick-likely"' not in page and " checked>" not in page
    assert re.search(r'id="preset-name" value="stethoscope"', page)  # named after the dictionary, not 'heartbeat'
    assert report.suggested == [] and report.advice == ""


def test_percussion_profile_marks_percussive_components(tmp_path):
    """Clicks at 2 per second under a steady hum: the click components are likely percussion, the hum is not."""
    sr = 4000
    t = np.arange(10 * sr) / sr
    rng = np.random.default_rng(1)
    clicks = np.zeros_like(t)
    for start in np.arange(0, 10, 0.5):
        n = int(start * sr)
        clicks[n : n + 200] += rng.standard_normal(200) * np.exp(-np.arange(200) / 40.0)
    hum = 0.3 * np.sin(2 * np.pi * 220 * t)
    d = learn_dictionary([(clicks + hum).astype(np.float32)], sr, n_components=4, iterations=80, n_fft=256, hop_length=64)
    report = audition(d, (clicks + hum).astype(np.float32), tmp_path / "p", sample_rate=sr, profile="percussion")
    marks = {f.index: get_profile("percussion").mark(f) for f in report.features}
    likely = [k for k, mark in marks.items() if mark == "likely"]
    assert likely and report.suggested == likely
    signals = np.stack([sf.read(p)[0] for p in report.component_audio])
    # the likely ones carry the clicks, the others the hum
    kept = signals[likely].sum(axis=0)
    assert np.dot(kept, clicks) / np.linalg.norm(kept) / np.linalg.norm(clicks) > 0.8
    assert 'tick likely percussive sounds' in report.page.read_text()


# --------------------------------------------------------------------------------------
# ranking by an example of the target


def test_an_example_of_the_heart_ranks_and_ticks_the_heart_components(clip_file, heart_example, tmp_path):
    report = audition(BUNDLED, clip_file, tmp_path / "r", reference=heart_example)
    heart = bundled_heart()
    assert report.suggested == heart
    assert report.ranking.order[: len(heart)] == sorted(heart, key=lambda k: -report.ranking.affinity[k])
    assert report.ranking.isolated and report.advice == ""
    # the estimated target shares put the heart components first, and one of them is mostly heart
    assert sorted(np.argsort(-report.ranking.target_share)[: len(heart)].tolist()) == heart
    assert max(report.ranking.target_share[k] for k in heart) >= ISOLATES
    breath = Dictionary.load(BUNDLED).resolve_components("breath")
    assert all(report.ranking.target_share[k] < 0.2 for k in breath)
    table = report.table("reference").splitlines()
    assert [int(line.split()[0]) for line in table[1 : 1 + len(heart)]] == report.ranking.order[: len(heart)]
    assert all("<- suggested" in line for line in table[1 : 1 + len(heart)])
    page = report.page.read_text()
    assert [int(i) for i in re.findall(r'value="(\d+)" checked>', page)] == heart
    assert 'id="preset-name" value="heart_alone"' in page and "tick the ones heart_alone.wav suggests" in page


def test_an_example_no_component_explains_gives_advice_with_real_commands(clip_file, tmp_path):
    """A 1 kHz whistle is nothing the stethoscope dictionary has: no component isolates it; the advice says what to try."""
    whistle = tmp_path / "whistle.wav"
    sf.write(whistle, (0.3 * np.sin(2 * np.pi * 1000 * np.arange(3 * SR) / SR)).astype(np.float32), SR)
    report = audition(BUNDLED, clip_file, tmp_path / "w", reference=whistle)
    assert not report.ranking.isolated
    assert report.advice.startswith("No component isolates the target")
    assert f"rtnmf train {clip_file} -o {BUNDLED.with_name('stethoscope_k32.npz')} --components 32" in report.advice
    assert f"rtnmf train --target {whistle} {clip_file} -o {BUNDLED.with_name('stethoscope_target.npz')}" in report.advice
    assert report.advice in report.page.read_text().replace("&#x27;", "'")


def test_ranking_needs_a_real_example(small_dictionary, stethoscope):
    y = stethoscope["mixture"][:20000]
    with pytest.raises(ParameterError, match="give at least one window"):
        rank_by_example(small_dictionary, y, y[:100])
    with pytest.raises(ParameterError, match="the target example is silent"):
        rank_by_example(small_dictionary, y, np.zeros(4000, np.float32))


# --------------------------------------------------------------------------------------
# the selection player, in a real browser


def _wait(browser, script, until, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = browser.execute_script(script)
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _snr(reference, estimate):
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    return 10 * np.log10(np.sum(reference**2) / max(np.sum((reference - estimate) ** 2), 1e-30))


@pytest.fixture(scope="module")
def odd_window_audition(stethoscope, tmp_path_factory):
    """A dictionary with a window that is not a power of two (n_fft 200, hop 50): the page's FFT takes another path."""
    y = stethoscope["mixture"][: 6 * SR]
    d = learn_dictionary([y], SR, n_components=6, iterations=40, n_fft=200, hop_length=50)
    return audition(d, y, tmp_path_factory.mktemp("odd"), sample_rate=SR)


@pytest.mark.parametrize("which", ["bundled", "odd window"])
def test_page_mixes_the_ticked_components_like_their_files(browser, clip_file, tmp_path, which, odd_window_audition):
    report = audition(BUNDLED, clip_file, tmp_path / "page") if which == "bundled" else odd_window_audition
    browser.get(report.page.resolve().as_uri())
    n = len(report.component_audio)
    components = np.stack([sf.read(p)[0] for p in report.component_audio])
    mixture = sf.read(report.mixture_audio)[0]
    for keep in ([0], [1, 2], list(range(n)), [n - 1, 0]):
        rendered = np.array(browser.execute_script(f"return Array.from(rtnmfPlayer.render({json.dumps(keep)}))"))
        assert rendered.shape == mixture.shape
        assert _snr(components[keep].sum(axis=0), rendered) > 60  # the sum of the component files, to float precision
        rest = np.array(browser.execute_script(f"return Array.from(rtnmfPlayer.rest({json.dumps(keep)}))"))
        assert _snr(mixture - components[keep].sum(axis=0), rest) > 60


def test_page_plays_the_ticked_sum_and_the_rest_in_sync(browser, clip_file, tmp_path):
    from selenium.webdriver.common.by import By

    report = audition(BUNDLED, clip_file, tmp_path / "page")
    browser.get(report.page.resolve().as_uri())
    components = np.stack([sf.read(p)[0] for p in report.component_audio])
    mixture = sf.read(report.mixture_audio)[0]
    state = "return rtnmfPlayer.state()"
    current = "return Array.from(rtnmfPlayer.current())"
    for index in (1, 2):
        browser.find_element(By.CSS_SELECTOR, f"input.keep[value='{index}']").click()
    assert "rtnmf run --dictionary" in browser.find_element(By.ID, "try-command").text
    assert browser.find_element(By.ID, "try-command").text.split("--keep ")[1].startswith("1,2 ")

    browser.find_element(By.CSS_SELECTOR, "#player button[data-mode=ticked]").click()
    playing = _wait(browser, state, lambda s: s["mode"] == "ticked" and s["running"] and s["position"] > 0.5)
    assert playing["mode"] == "ticked" and playing["running"] and playing["keep"] == [1, 2], playing
    assert _snr(components[[1, 2]].sum(axis=0), browser.execute_script(current)) > 60

    # tick another component while playing: the new mix goes on from the same place
    before = browser.execute_script(state)["position"]
    browser.find_element(By.CSS_SELECTOR, "input.keep[value='5']").click()
    after = _wait(browser, state, lambda s: s["keep"] == [1, 2, 5])
    assert after["mode"] == "ticked" and after["position"] >= before, (before, after)
    assert _snr(components[[1, 2, 5]].sum(axis=0), browser.execute_script(current)) > 60

    # the rest, from the same place
    before = browser.execute_script(state)["position"]
    browser.find_element(By.CSS_SELECTOR, "#player button[data-mode=rest]").click()
    rest = browser.execute_script(state)
    assert rest["mode"] == "rest" and before <= rest["position"] < before + 1.0, (before, rest)
    assert _snr(mixture - components[[1, 2, 5]].sum(axis=0), browser.execute_script(current)) > 60
    later = _wait(browser, state, lambda s: s["position"] > rest["position"] + 0.3)
    assert later["mode"] == "rest" and later["position"] > rest["position"]
    assert "playing the rest" in browser.find_element(By.ID, "player-status").text

    # a component's own player stops the mix, and the mix pauses the players
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        document.querySelector("article.component audio").play().then(() => done(true), () => done(false));
    """)
    stopped = _wait(browser, state, lambda s: s["mode"] is None)
    assert stopped["mode"] is None
    browser.find_element(By.CSS_SELECTOR, "#player button[data-mode=clip]").click()
    assert browser.execute_script("return document.querySelector('article.component audio').paused") is True
    assert _snr(mixture, browser.execute_script(current)) > 100
    browser.find_element(By.ID, "player-stop").click()
    assert browser.execute_script(state)["mode"] is None
