"""Audition: component files and pictures, features, the page, the CLI, and the page in a real browser."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtime_nmf.audition import SORT_ORDERS, audition, component_file_stem
from realtime_nmf.audition.page import KEEP_PLACEHOLDER, NAME_PLACEHOLDER
from realtime_nmf.cli import AUDITION_ORDERS, main
from realtime_nmf.dictionary import Dictionary
from realtime_nmf.errors import AudioFileError, OutputError, ParameterError
from realtime_nmf.evaluate import select_components, snr
from realtime_nmf.audition.features import heartbeat_score, repetition_rate, spectral_centroid
from realtime_nmf.presets import load_preset
from realtime_nmf.stft import magnitude_spectrogram

from .conftest import ROOT

BUNDLED = ROOT / "presets" / "stethoscope.npz"
SR = 4000


def bundled_heart() -> list[int]:
    """The components of the bundled dictionary labelled 'heart'."""
    return Dictionary.load(BUNDLED).resolve_components("heart")


@pytest.fixture(scope="module")
def auditioned(clip_file, tmp_path_factory):
    """The bundled 16-component dictionary (labels heart/breath) auditioned on the 20 s synthetic recording, for heartbeats."""
    folder = tmp_path_factory.mktemp("audition")
    # the folder of an older audition, of a dictionary with 100 components, with its manifest; and a file of the user's
    from realtime_nmf.audition._folder import MANIFEST

    (folder / "component_99.wav").write_bytes(b"left by an older audition")
    (folder / MANIFEST).write_text(json.dumps({"format": "realtime_nmf.audition", "files": ["component_99.wav", "index.html"]}))
    (folder / "notes.txt").write_text("the user's own file")
    return audition(BUNDLED, clip_file, folder, profile="heartbeat")


def read(path):
    y, sr = sf.read(path, dtype="float64")
    assert sr == SR
    return y


def fill(template: str, name: str, keep: str) -> str:
    """What the page's script does with the preset templates."""
    return template.replace(NAME_PLACEHOLDER, name).replace(KEEP_PLACEHOLDER, keep)


def page_data(page: Path) -> dict:
    match = re.search(r'<script type="application/json" id="audition-data">(.*?)</script>', page.read_text(), re.S)
    return json.loads(match.group(1))


# --------------------------------------------------------------------------------------
# files


def test_one_audio_file_and_one_picture_per_component(auditioned):
    names = {path.name for path in auditioned.folder.iterdir()}
    components = {f"component_{k:02d}.{ext}" for k in range(16) for ext in ("wav", "png")}
    assert names == components | {"mixture.wav", "mixture.png", "residual.wav", "residual.png", "overview.png", "index.html", "selection.js",
                                  "notes.txt", ".rtnmf-audition.json"}
    manifest = json.loads((auditioned.folder / ".rtnmf-audition.json").read_text())
    assert set(manifest["files"]) == names - {"notes.txt", ".rtnmf-audition.json"}  # what it wrote: not the user's notes
    assert [p.name for p in auditioned.component_audio] == [f"component_{k:02d}.wav" for k in range(16)]
    for path in auditioned.component_audio + [auditioned.mixture_audio, auditioned.residual_audio]:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 1, 20 * SR, "FLOAT")
    for path in auditioned.component_pictures + [auditioned.overview]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_components_plus_residual_equal_the_clip(auditioned, stethoscope):
    components = np.stack([read(path) for path in auditioned.component_audio])
    residual = read(auditioned.residual_audio)
    np.testing.assert_allclose(read(auditioned.mixture_audio), stethoscope["mixture"], atol=1e-7)
    np.testing.assert_allclose(components.sum(axis=0) + residual, stethoscope["mixture"], atol=1e-5)
    # the energy column adds up: the components' and the residual's parts of the clip's energy make 100 %
    assert sum(f.energy_share for f in auditioned.features) + auditioned.residual_share == pytest.approx(100.0, abs=1e-3)
    assert 0.1 < 100 * np.dot(residual, residual) / np.dot(stethoscope["mixture"], stethoscope["mixture"]) < 15.0


def test_stale_component_files_are_removed_and_other_files_kept(auditioned):
    assert not (auditioned.folder / "component_99.wav").exists()
    assert (auditioned.folder / "notes.txt").read_text() == "the user's own file"


@pytest.mark.parametrize("index, n_components, stem", [(5, 10, "component_05"), (0, 1, "component_00"), (99, 100, "component_99"),
                                                        (5, 101, "component_005"), (100, 101, "component_100"), (7, 1000, "component_007")])
def test_file_names_are_zero_padded_to_the_largest_index(index, n_components, stem):
    assert component_file_stem(index, n_components) == stem


# --------------------------------------------------------------------------------------
# features


def test_features_point_at_the_heart_components(auditioned, stethoscope):
    d = Dictionary.load(BUNDLED)
    heart = bundled_heart()
    features = auditioned.features
    assert [f.index for f in features] == list(range(16)) and [f.label for f in features] == d.labels
    assert {f.index for f in features if f.heartbeat_mark == "likely"} == set(heart)
    assert not any(f.heartbeat_mark for f in features if f.index not in heart)
    # the heart rate of the synthetic heart signal, measured the same way on the true heart sound
    true_heart = magnitude_spectrogram(stethoscope["heart"], d.n_fft, d.hop_length).sum(axis=0)
    true_rate, _ = repetition_rate(true_heart, SR / d.hop_length)
    assert 60 <= true_rate <= 90
    for k in heart:
        f = features[k]
        assert f.centroid < 150 and abs(f.repetition_bpm - true_rate) < 4 and f.periodicity > 0.5
    others = [f for f in features if f.index not in heart]
    # heart sounds sit below the breathing (the 50 Hz mains hum, when it has a clean template, sits lower still)
    assert max(features[k].centroid for k in heart) < min(f.centroid for f in others if f.label != "hum")
    assert not any(40 <= f.repetition_bpm <= 200 and f.periodicity > 0.3 for f in others)  # breathing repeats slower
    assert [f.index for f in sorted(features, key=SORT_ORDERS["heartbeat"])][:2] == heart
    # the energy shares: the heart holds most of the synthetic recording's energy, nothing exceeds the clip
    assert all(0 <= f.energy_share <= 100 for f in features)
    assert sum(features[k].energy_share for k in heart) > 20


def test_features_on_a_dictionary_without_labels(small_dictionary, stethoscope, tmp_path):
    """The listener's view on an unlabelled dictionary: the components that make up the heart are the heartbeat-like ones."""
    y = stethoscope["mixture"][40000:]  # the half the dictionary did not see
    report = audition(small_dictionary, y, tmp_path, sample_rate=SR)
    from realtime_nmf.decompose import component_signals

    heart = select_components(component_signals(small_dictionary, y), stethoscope["heart"][40000:])
    ranked = [f.index for f in sorted(report.features, key=SORT_ORDERS["heartbeat"])]
    assert set(ranked[: len(heart)]) == set(heart)
    assert all(60 <= report.features[k].repetition_bpm <= 92 for k in heart)
    # a Dictionary object without a file: the page's preset refers to a copy saved beside the page
    assert report.dictionary_path == (tmp_path / "dictionary.npz").resolve()
    np.testing.assert_array_equal(Dictionary.load(report.dictionary_path).W, small_dictionary.W)


def test_repetition_rate_of_a_pulse_train():
    frame_rate = 62.5
    t = np.arange(int(30 * frame_rate)) / frame_rate
    pulses = np.exp(-(((t * 72 / 60) % 1.0) * 8) ** 2)  # one pulse per beat at 72 per minute
    rate, periodicity = repetition_rate(pulses, frame_rate)
    assert rate == pytest.approx(72, abs=1) and periodicity > 0.8
    rng = np.random.default_rng(0)
    rate, periodicity = repetition_rate(rng.random(t.size), frame_rate)  # noise: only random ripples
    assert periodicity < 0.3
    rate, periodicity = repetition_rate(np.ones(t.size), frame_rate)  # a constant hum: no repetition
    assert np.isnan(rate) and periodicity == 0.0
    rate, periodicity = repetition_rate(pulses[:40], frame_rate)  # under a second: too short to tell
    assert np.isnan(rate) and periodicity == 0.0


def test_spectral_centroid_and_heartbeat_score():
    spectrum = np.zeros(129)
    spectrum[10] = 1.0  # 10 * 4000 / 256 Hz
    assert spectral_centroid(spectrum, 4000) == pytest.approx(10 * 4000 / 256)
    assert np.isnan(spectral_centroid(np.zeros(129), 4000))
    # a low sound over a hiss floor 50 dB down at 44.1 kHz: the floor does not drag the centroid up to kilohertz
    spectrum = np.full(1025, 10 ** (-50 / 20))
    spectrum[2:4] = 1.0  # about 43-65 Hz
    assert spectral_centroid(spectrum, 44100) < 200
    assert heartbeat_score(80, 70, 0.5) == pytest.approx(0.5)
    assert heartbeat_score(80, 30, 0.9) == 0.0  # too slow for a heart
    assert heartbeat_score(80, 250, 0.9) == 0.0  # too fast
    assert heartbeat_score(600, 70, 0.9) == 0.0  # hiss repeating at a heart rate
    assert heartbeat_score(300, 70, 0.8) == pytest.approx(0.4)  # half-way up the centroid ramp
    assert heartbeat_score(80, float("nan"), 0.9) == 0.0


# --------------------------------------------------------------------------------------
# the page (without a browser)


def test_page_is_self_contained_and_lists_every_component(auditioned):
    text = auditioned.page.read_text()
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    sources = re.findall(r'<audio controls preload="auto" src="([^"]+)"', text)
    assert sources == ["mixture.wav", "residual.wav"] + [f"component_{k:02d}.wav" for k in range(16)]
    assert all((auditioned.folder / name).is_file() for name in re.findall(r'<img src="([^"]+)"', text))
    boxes = re.findall(r'<input type="checkbox" class="keep" value="(\d+)"( checked)?>', text)
    assert len(boxes) == 16
    assert [int(index) for index, checked in boxes if checked] == bundled_heart()  # the likely heartbeats are ticked
    assert "tick &lsquo;heart&rsquo;" in text and "tick &lsquo;breath&rsquo;" in text


def test_page_preset_loads_as_is_and_keeps_the_ticked_components(auditioned, tmp_path, isolated_user_presets):
    data = page_data(auditioned.page)
    saved = tmp_path / "elsewhere" / "picked.yaml"  # wherever the browser saves it
    saved.parent.mkdir()
    saved.write_text(fill(data["yaml"], "picked", "[3, 11]"))
    preset = load_preset(saved)
    assert preset.keep_indices == [3, 11] and preset.dictionary_path == BUNDLED.resolve()
    command = shlex.split(fill(data["command"], "picked", "3,11"))
    assert command[:3] == ["rtnmf", "preset", "new"]
    assert main(command[1:]) == 0
    assert load_preset("picked").keep_indices == [3, 11]


# --------------------------------------------------------------------------------------
# command line


def test_cli_audition_prints_the_table_and_the_page(tmp_path, stethoscope, capsys, isolated_user_presets):
    clip = tmp_path / "stereo_8k.wav"
    import soxr

    mono = soxr.resample(stethoscope["mixture"][: 8 * SR], SR, 8000)
    sf.write(clip, np.stack([mono, mono], axis=1), 8000, subtype="FLOAT")
    folder = tmp_path / "new" / "audition"
    assert main(["audition", str(BUNDLED), str(clip), "-o", str(folder), "--sort", "heartbeat", "--profile", "heartbeat"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert re.match(r"\s*#\s+label\s+energy\s+centroid\s+repeats\s+periodicity\s+percussive\s+heartbeat$", lines[0])
    heart = bundled_heart()
    assert [int(line.split()[0]) for line in lines[1 : 1 + len(heart)]] == heart
    assert all("likely" in line for line in lines[1 : 1 + len(heart)])
    assert "residual (what the dictionary does not explain)" in captured.out
    assert (folder / "index.html").resolve().as_uri() in captured.out
    assert "mixed to mono" in captured.err and "resampled from 8000 Hz to the dictionary's 4000 Hz" in captured.err
    assert sf.info(str(folder / "component_15.wav")).frames == 8 * SR
    # from the page's indices, or the dictionary's labels, to a preset
    assert main(["preset", "new", "fromtable", "--dictionary", str(BUNDLED), "--keep", ",".join(map(str, heart))]) == 0
    assert load_preset("fromtable").keep_indices == heart
    assert main(["preset", "new", "bylabel", "--dictionary", str(BUNDLED), "--keep", "heart"]) == 0
    assert load_preset("bylabel").keep_indices == heart


def test_cli_and_library_sort_orders_agree():
    assert tuple(SORT_ORDERS) + ("reference",) == AUDITION_ORDERS


def test_importing_the_package_does_not_load_matplotlib():
    import subprocess
    import sys

    code = "import sys, realtime_nmf, realtime_nmf.cli, realtime_nmf.audition; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("args, message", [
    (["audition", "missing.npz", "{clip}", "-o", "out"], "dictionary file 'missing.npz' does not exist"),
    (["audition", str(BUNDLED), "missing.wav", "-o", "out"], "audio file 'missing.wav' does not exist"),
    (["audition", str(BUNDLED), "{text}", "-o", "out"], "cannot read '{text}' as audio"),
    (["audition", str(BUNDLED), "{clip}", "-o", "{clip}"], "is a file; give a folder for the audition files"),
    (["audition", str(BUNDLED), "{silent}", "-o", "out"], "is silent"),
    (["audition", str(BUNDLED), "{short}", "-o", "out"], "give at least one window (256 samples)"),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {"clip": tmp_path / "c.wav", "text": tmp_path / "notes.wav", "silent": tmp_path / "silent.wav", "short": tmp_path / "short.wav"}
    sf.write(files["clip"], np.full(SR, 0.1, dtype=np.float32), SR)
    files["text"].write_text("not audio")
    sf.write(files["silent"], np.zeros(SR, dtype=np.float32), SR)
    sf.write(files["short"], np.full(100, 0.1, dtype=np.float32), SR)
    names = {key: str(path) for key, path in files.items()}
    assert main([arg.format(**names) for arg in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rtnmf: error: ") and message.format(**names) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_library_errors(tmp_path):
    with pytest.raises(ParameterError, match="give sample_rate="):
        audition(BUNDLED, np.ones(SR, dtype=np.float32), tmp_path)
    with pytest.raises(ParameterError, match="NaN or infinite"):
        audition(BUNDLED, np.full(SR, np.nan, dtype=np.float32), tmp_path, sample_rate=SR)
    with pytest.raises(AudioFileError):
        audition(BUNDLED, tmp_path / "nothing.wav", tmp_path)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(OutputError, match="cannot create the folder"):
        audition(BUNDLED, np.ones(SR, dtype=np.float32), blocked / "sub", sample_rate=SR)


# --------------------------------------------------------------------------------------
# the page in a real browser


def _chromium():
    """A headless Chromium driven by Selenium, with the system's browser and driver; skips saying why when absent."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed; pip install -e '.[test]' installs it")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver; "
                    "tools/run_tests.sh installs them when run as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    profile = tempfile.mkdtemp(prefix="rtnmf-chromium-")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     f"--user-data-dir={profile}", "--allow-file-access-from-files", "--autoplay-policy=no-user-gesture-required",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # to see every request the page makes
    # the system's driver and browser: Selenium Manager never runs, nothing is downloaded
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_script_timeout(120)
    session.set_page_load_timeout(60)
    return session, profile


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")
    session, profile = _chromium()
    yield session
    session.quit()
    shutil.rmtree(profile, ignore_errors=True)


PLAY_EACH = """
const done = arguments[arguments.length - 1];
const playOne = (audio) => new Promise((resolve) => {
  let settled = false;
  const finish = (outcome) => {
    if (settled) { return; }
    settled = true;
    audio.pause();
    resolve({src: audio.getAttribute("src"), outcome: outcome, error: audio.error && audio.error.code,
             duration: audio.duration, time: audio.currentTime});
  };
  audio.addEventListener("error", () => finish("error"));
  audio.addEventListener("timeupdate", () => { if (audio.currentTime > 0) { finish("played"); } });
  audio.play().catch((e) => finish("refused: " + e.name));
  setTimeout(() => finish("timeout"), 15000);
});
(async () => {
  const results = [];
  for (const audio of document.querySelectorAll("audio")) { results.push(await playOne(audio)); }
  return results;
})().then(done, (e) => done([{outcome: "script error " + e}]));
"""


def test_page_in_headless_chromium(browser, auditioned, clip_file, tmp_path, isolated_user_presets):
    from selenium.webdriver.common.by import By

    browser.get(auditioned.page.resolve().as_uri())
    audios = browser.find_elements(By.CSS_SELECTOR, "article.component audio")
    assert len(audios) == 16

    # every player's file exists and plays: no media error, the playback position advances
    results = browser.execute_async_script(PLAY_EACH)
    assert len(results) == 18
    for result in results:
        assert (auditioned.folder / result["src"]).is_file()
        assert result["outcome"] == "played" and result["error"] is None, result
        assert result["duration"] == pytest.approx(20.0, abs=0.01)
    # one player at a time: starting one pauses the others
    paused = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const [a, b] = document.querySelectorAll("article.component audio");
        a.play().then(() => b.play()).then(() => done([a.paused, b.paused]), (e) => done(String(e)));
    """)
    assert paused == [True, False]

    # every picture loaded
    images = browser.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert len(images) == 16 + 3
    assert all(complete and width > 0 for _, complete, width in images), images

    # everything the page asked for came from disk: no network
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    requested = {event["params"]["request"]["url"] for event in events if event["method"] == "Network.requestWillBeSent"
                 and event["params"].get("documentURL") == auditioned.page.resolve().as_uri()}
    assert {url.rsplit("/", 1)[-1] for url in requested} >= {"index.html", "mixture.wav", "component_15.png", "overview.png"}
    assert all(url.startswith(("file://", "data:", "blob:")) for url in requested), requested

    # sorting puts the heartbeat-like components first and keeps the checkboxes
    browser.find_element(By.CSS_SELECTOR, "#order option[value=score]").click()
    order = [int(e.get_attribute("data-index")) for e in browser.find_elements(By.CSS_SELECTOR, "article.component")]
    heart = bundled_heart()
    assert order[: len(heart)] == heart and sorted(order) == list(range(16))

    # the likely heartbeats come ticked; untick them, tick two components, make the preset
    assert browser.find_element(By.ID, "selection").text == f"ticked: {', '.join(map(str, heart))} ({len(heart)} of 16)"
    browser.find_element(By.ID, "tick-none").click()
    for index in (4, 9):
        browser.find_element(By.CSS_SELECTOR, f"input.keep[value='{index}']").click()
    assert browser.find_element(By.ID, "selection").text == "ticked: 4, 9 (2 of 16)"
    name = browser.find_element(By.ID, "preset-name")
    name.clear()
    name.send_keys("two_parts")
    browser.find_element(By.ID, "make-preset").click()
    text = browser.find_element(By.ID, "preset-yaml").get_property("value")
    link = browser.find_element(By.ID, "preset-download")
    assert link.get_attribute("download") == "two_parts.yaml" and link.get_attribute("href").startswith("blob:")
    downloaded = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById("preset-download").href).then(r => r.text()).then(done, (e) => done("failed: " + e));
    """)
    assert downloaded == text
    command = browser.find_element(By.ID, "preset-command").text
    assert command.startswith("rtnmf preset new two_parts --dictionary ") and command.endswith("--keep 4,9")

    # the YAML is a preset as is: rtnmf run accepts it and keeps exactly those two components
    saved = tmp_path / "downloads" / "two_parts.yaml"
    saved.parent.mkdir()
    saved.write_text(text)
    assert load_preset(saved).keep_indices == [4, 9]
    output = tmp_path / "two_parts.wav"
    assert main(["run", "--preset", str(saved), "--input", str(clip_file), "--output", str(output)]) == 0
    separated = read(output)
    components = np.stack([read(path) for path in auditioned.component_audio])
    ticked = snr(components[[4, 9]].sum(axis=0), separated)
    others = max(snr(components[list(pair)].sum(axis=0), separated) for pair in itertools.combinations(range(16), 2) if pair != (4, 9))
    assert ticked > 10 and ticked > others + 6

    # the command line shown beside it makes the same preset
    assert main(shlex.split(command)[1:]) == 0
    assert load_preset("two_parts").keep_indices == [4, 9]

    # label buttons tick every component with that label; an empty selection asks for one
    browser.find_element(By.ID, "tick-none").click()
    browser.find_element(By.CSS_SELECTOR, "button.tick-label[data-label='heart']").click()
    assert browser.find_element(By.ID, "selection").text == f"ticked: {', '.join(map(str, heart))} ({len(heart)} of 16)"
    browser.find_element(By.ID, "tick-none").click()
    browser.find_element(By.ID, "make-preset").click()
    assert "Tick at least one component" in browser.find_element(By.ID, "message").text
