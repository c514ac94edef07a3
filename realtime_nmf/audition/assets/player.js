// The selection player: mixes the ticked components of the clip (or the rest) and plays them, in the browser.
// Data: window.RTNMF_SELECTION from selection.js (realtime_nmf/audition/selection.py). For ticked components K it
// computes the clip's STFT times sum_K W_k h_k / (max(W H, V) + eps), resynthesised by overlap-add with the
// least-squares synthesis window: the sum of their component_NN.wav files, without reading them.
(function () {
  "use strict";
  var data = window.RTNMF_SELECTION;
  var bar = document.getElementById("player");
  if (!bar) { return; }
  var status = document.getElementById("player-status");
  if (!data) {
    status.textContent = "The selection player needs selection.js beside this page.";
    Array.prototype.forEach.call(bar.querySelectorAll("button"), function (b) { b.disabled = true; });
    return;
  }

  function floats(text) {
    var bytes = atob(text), buffer = new ArrayBuffer(bytes.length), view = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i++) { view[i] = bytes.charCodeAt(i); }
    return new Float32Array(buffer);
  }

  // complex FFT in place (radix 2; Bluestein for other lengths)
  function radix2(n) {
    var levels = Math.round(Math.log2(n)), cos = new Float64Array(n / 2), sin = new Float64Array(n / 2), rev = new Uint32Array(n);
    for (var i = 0; i < n / 2; i++) { cos[i] = Math.cos(2 * Math.PI * i / n); sin[i] = Math.sin(2 * Math.PI * i / n); }
    for (var j = 0; j < n; j++) {
      var r = 0;
      for (var b = 0, x = j; b < levels; b++, x >>= 1) { r = (r << 1) | (x & 1); }
      rev[j] = r;
    }
    return function (re, im) {  // forward transform, exp(-2 pi i k n / N)
      for (var i = 0; i < n; i++) {
        var k = rev[i];
        if (k > i) { var t = re[i]; re[i] = re[k]; re[k] = t; t = im[i]; im[i] = im[k]; im[k] = t; }
      }
      for (var size = 2; size <= n; size *= 2) {
        var half = size / 2, step = n / size;
        for (var start = 0; start < n; start += size) {
          for (var m = 0; m < half; m++) {
            var a = start + m, c = a + half, wr = cos[m * step], wi = -sin[m * step];
            var xr = re[c] * wr - im[c] * wi, xi = re[c] * wi + im[c] * wr;
            re[c] = re[a] - xr; im[c] = im[a] - xi; re[a] += xr; im[a] += xi;
          }
        }
      }
    };
  }

  function makeFFT(n) {
    if ((n & (n - 1)) === 0) { return radix2(n); }
    var m = 1;
    while (m < 2 * n - 1) { m *= 2; }
    var inner = radix2(m), chirpRe = new Float64Array(n), chirpIm = new Float64Array(n);
    for (var k = 0; k < n; k++) {
      var angle = Math.PI * ((k * k) % (2 * n)) / n;
      chirpRe[k] = Math.cos(angle); chirpIm[k] = -Math.sin(angle);
    }
    var bRe = new Float64Array(m), bIm = new Float64Array(m);
    bRe[0] = chirpRe[0]; bIm[0] = -chirpIm[0];
    for (var j = 1; j < n; j++) { bRe[j] = bRe[m - j] = chirpRe[j]; bIm[j] = bIm[m - j] = -chirpIm[j]; }
    inner(bRe, bIm);
    var aRe = new Float64Array(m), aIm = new Float64Array(m);
    return function (re, im) {
      aRe.fill(0); aIm.fill(0);
      for (var k = 0; k < n; k++) {
        aRe[k] = re[k] * chirpRe[k] - im[k] * chirpIm[k];
        aIm[k] = re[k] * chirpIm[k] + im[k] * chirpRe[k];
      }
      inner(aRe, aIm);
      for (var i = 0; i < m; i++) {
        var r = aRe[i] * bRe[i] - aIm[i] * bIm[i];
        aIm[i] = -(aRe[i] * bIm[i] + aIm[i] * bRe[i]); aRe[i] = r;  // conjugate for the inverse
      }
      inner(aRe, aIm);
      for (var k2 = 0; k2 < n; k2++) {
        var xr = aRe[k2] / m, xi = -aIm[k2] / m;
        re[k2] = xr * chirpRe[k2] - xi * chirpIm[k2];
        im[k2] = xr * chirpIm[k2] + xi * chirpRe[k2];
      }
    };
  }

  var analysis = null;  // the clip's STFT and the model's denominators, computed on first use
  function analyse() {
    if (analysis) { return analysis; }
    var n = data.n_fft, hop = data.hop_length, bins = n / 2 + 1 | 0, frames = data.n_frames, K = data.n_components;
    var y = floats(data.y), win = floats(data.analysis_window), W = floats(data.W), H = floats(data.H);
    var fft = makeFFT(n), re = new Float64Array(n), im = new Float64Array(n);
    var Sre = new Float32Array(frames * bins), Sim = new Float32Array(frames * bins), den = new Float32Array(frames * bins);
    var lead = n - hop;
    for (var m = 0; m < frames; m++) {
      var first = m * hop - lead;
      for (var i = 0; i < n; i++) {
        var t = first + i;
        re[i] = t >= 0 && t < y.length ? y[t] * win[i] : 0; im[i] = 0;
      }
      fft(re, im);
      for (var f = 0; f < bins; f++) {
        var at = m * bins + f, model = 0;
        Sre[at] = re[f]; Sim[at] = im[f];
        for (var k = 0; k < K; k++) { model += W[f * K + k] * H[k * frames + m]; }
        var magnitude = Math.sqrt(re[f] * re[f] + im[f] * im[f]);
        var V = data.power === 1 ? magnitude : Math.pow(magnitude, data.power);
        den[at] = Math.max(model, V) + data.eps;
      }
    }
    analysis = {n: n, hop: hop, bins: bins, frames: frames, K: K, y: y, W: W, H: H, Sre: Sre, Sim: Sim, den: den,
                synthesis: floats(data.synthesis_window), fft: fft};
    return analysis;
  }

  // the ticked components' sum: exactly what summing their component_NN.wav files gives
  function render(keep) {
    var a = analyse(), n = a.n, bins = a.bins, lead = n - a.hop;
    var out = new Float64Array(lead + a.frames * a.hop + a.hop), re = new Float64Array(n), im = new Float64Array(n);
    for (var m = 0; m < a.frames; m++) {
      for (var f = 0; f < bins; f++) {
        var at = m * bins + f, num = 0;
        for (var j = 0; j < keep.length; j++) { num += a.W[f * a.K + keep[j]] * a.H[keep[j] * a.frames + m]; }
        var mask = num / a.den[at];
        re[f] = a.Sre[at] * mask; im[f] = -a.Sim[at] * mask;  // conjugated: inverse through the forward transform
      }
      im[0] = 0;
      if (n % 2 === 0) { im[bins - 1] = 0; }
      for (var g = bins; g < n; g++) { re[g] = re[n - g]; im[g] = -im[n - g]; }
      a.fft(re, im);
      for (var i = 0; i < n; i++) { out[m * a.hop + i] += re[i] / n * a.synthesis[i]; }
    }
    var result = new Float32Array(a.y.length);
    for (var s = 0; s < result.length; s++) { result[s] = out[lead + s]; }
    return result;
  }

  function rest(keep) {
    var selected = render(keep), y = analyse().y, out = new Float32Array(y.length);
    for (var i = 0; i < y.length; i++) { out[i] = y[i] - selected[i]; }
    return out;
  }

  // playback: one source at a time, one position shared by the three modes
  var context = null, source = null, mode = null, startedAt = 0, offset = 0, current = null, timer = null;
  var labels = {ticked: "the ticked components", rest: "the rest (the clip minus the ticked components)", clip: "the clip"};

  function ticked() { return window.rtnmfAudition ? window.rtnmfAudition.ticked() : []; }

  function signal(which) {
    if (which === "clip") { return analyse().y; }
    return which === "rest" ? rest(ticked()) : render(ticked());
  }

  function position() { return source ? Math.min(context.currentTime - startedAt, duration()) : offset; }
  function duration() { return data.length / data.sample_rate; }

  function toBuffer(samples) {
    var rate = data.sample_rate, factor = 1;
    try {
      var buffer = context.createBuffer(1, samples.length, rate);
      buffer.getChannelData(0).set(samples);
      return buffer;
    } catch (e) {  // a browser that cannot play this rate (below 8 kHz): interpolate up
      factor = Math.ceil(8000 / rate);
      var up = context.createBuffer(1, samples.length * factor, rate * factor), channel = up.getChannelData(0);
      for (var i = 0; i < channel.length; i++) {
        var x = i / factor, lo = Math.floor(x), hi = Math.min(lo + 1, samples.length - 1), w = x - lo;
        channel[i] = samples[lo] * (1 - w) + samples[hi] * w;
      }
      return up;
    }
  }

  function show() {
    var at = position();
    document.getElementById("player-position").value = String(Math.round(1000 * at / duration()));
    status.textContent = (mode ? "playing " + labels[mode] : "stopped") + " at " + at.toFixed(1) + " of " + duration().toFixed(1) + " s" +
      (mode && mode !== "clip" ? " (ticked: " + (ticked().join(", ") || "none") + ")" : "");
    Array.prototype.forEach.call(bar.querySelectorAll("button[data-mode]"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-mode") === mode);
    });
  }

  function stopSource() {
    if (source) { source.onended = null; source.stop(); source.disconnect(); source = null; }
  }

  function play(which, at) {
    if (!context) { context = new (window.AudioContext || window.webkitAudioContext)(); }
    if (context.state === "suspended") { context.resume(); }
    var start = at === undefined ? position() : at;
    if (start >= duration() - 0.01) { start = 0; }
    stopSource();
    Array.prototype.forEach.call(document.querySelectorAll("audio"), function (audio) { audio.pause(); });
    current = signal(which);
    source = context.createBufferSource();
    source.buffer = toBuffer(current);
    source.connect(context.destination);
    source.onended = function () { offset = 0; source = null; mode = null; show(); };
    mode = which;
    startedAt = context.currentTime - start;
    source.start(0, start);
    if (!timer) { timer = setInterval(show, 200); }
    show();
  }

  function stop() {
    offset = position();
    stopSource();
    mode = null;
    show();
  }

  Array.prototype.forEach.call(bar.querySelectorAll("button[data-mode]"), function (button) {
    button.addEventListener("click", function () { play(button.getAttribute("data-mode")); });
  });
  document.getElementById("player-stop").addEventListener("click", stop);
  document.getElementById("player-position").addEventListener("input", function (event) {
    var at = duration() * parseInt(event.target.value, 10) / 1000;
    if (mode) { play(mode, at); } else { offset = at; show(); }
  });
  // a new tick while the ticked components or the rest are playing: the new mix goes on from the same place
  document.addEventListener("rtnmf-ticked", function () { if (mode === "ticked" || mode === "rest") { play(mode); } else { show(); } });
  // a component's own player stops this one
  document.addEventListener("play", function (event) { if (event.target.tagName === "AUDIO" && mode) { stop(); } }, true);

  window.rtnmfPlayer = {
    render: render,
    rest: rest,
    play: play,
    stop: stop,
    state: function () {
      return {mode: mode, position: position(), running: !!(context && context.state === "running"),
              contextTime: context ? context.currentTime : 0, keep: ticked()};
    },
    current: function () { return current; }
  };
  show();
})();
