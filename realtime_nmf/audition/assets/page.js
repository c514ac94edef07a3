(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("audition-data").textContent);
  var list = document.getElementById("components");
  var rows = Array.prototype.slice.call(list.querySelectorAll("article.component"));
  var boxes = rows.map(function (row) { return row.querySelector("input.keep"); });
  var nameInput = document.getElementById("preset-name");
  var message = document.getElementById("message");
  var downloadUrl = null;

  function ticked() {
    return boxes.filter(function (box) { return box.checked; })
      .map(function (box) { return parseInt(box.value, 10); })
      .sort(function (a, b) { return a - b; });
  }

  function refresh() {
    rows.forEach(function (row, i) { row.classList.toggle("picked", boxes[i].checked); });
    var keep = ticked();
    document.getElementById("selection").textContent = keep.length
      ? "ticked: " + keep.join(", ") + " (" + keep.length + " of " + rows.length + ")"
      : "nothing ticked yet";
    var trial = document.getElementById("try-command");
    trial.textContent = keep.length && data["try"] ? fill(data["try"], presetName() || "selection", keep.join(","))
      : "Tick components to get the command.";
    document.dispatchEvent(new CustomEvent("rtnmf-ticked", {detail: keep}));
  }

  function presetName() { return nameInput.value.trim(); }

  function number(row, key, missing) {
    var value = parseFloat(row.getAttribute("data-" + key));
    return isNaN(value) ? missing : value;
  }

  var orders = {
    index: function (a, b) { return number(a, "index", 0) - number(b, "index", 0); },
    score: function (a, b) { return number(b, "score", 0) - number(a, "score", 0) || orders.index(a, b); },
    affinity: function (a, b) { return number(b, "affinity", 0) - number(a, "affinity", 0) || orders.index(a, b); },
    percussive: function (a, b) { return number(b, "percussive", 0) - number(a, "percussive", 0) || orders.index(a, b); },
    energy: function (a, b) { return number(b, "energy", 0) - number(a, "energy", 0) || orders.index(a, b); },
    centroid: function (a, b) { return number(a, "centroid", Infinity) - number(b, "centroid", Infinity) || orders.index(a, b); }
  };

  document.getElementById("order").addEventListener("change", function (event) {
    rows.slice().sort(orders[event.target.value]).forEach(function (row) { list.appendChild(row); });
  });

  function tickWhere(test) {
    rows.forEach(function (row, i) { if (test(row)) { boxes[i].checked = true; } });
    refresh();
  }
  function onClick(id, handler) {
    var button = document.getElementById(id);
    if (button) { button.addEventListener("click", handler); }
  }
  onClick("tick-likely", function () { tickWhere(function (row) { return row.getAttribute("data-mark") === "likely"; }); });
  onClick("tick-suggested", function () { tickWhere(function (row) { return row.getAttribute("data-suggested") === "yes"; }); });
  document.getElementById("tick-none").addEventListener("click", function () {
    boxes.forEach(function (box) { box.checked = false; });
    refresh();
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.tick-label"), function (button) {
    button.addEventListener("click", function () {
      var label = button.getAttribute("data-label");
      tickWhere(function (row) { return row.getAttribute("data-label") === label; });
    });
  });
  boxes.forEach(function (box) { box.addEventListener("change", refresh); });
  nameInput.addEventListener("input", refresh);

  // one player at a time
  document.addEventListener("play", function (event) {
    Array.prototype.forEach.call(document.querySelectorAll("audio"), function (audio) {
      if (audio !== event.target) { audio.pause(); }
    });
  }, true);

  function fill(template, name, keep) {
    return template.split(data.name).join(name).split(data.keep).join(keep);
  }

  function makePreset() {
    var keep = ticked();
    var name = presetName();
    var panel = document.getElementById("preset");
    if (!keep.length) {
      message.textContent = "Tick at least one component first.";
      panel.hidden = true;
      return;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.\-]*$/.test(name)) {
      message.textContent = "The preset name may hold letters, digits, '_', '-' and '.', and must start with a letter or digit.";
      panel.hidden = true;
      return;
    }
    message.textContent = "";
    var yaml = fill(data.yaml, name, "[" + keep.join(", ") + "]");
    document.getElementById("preset-yaml").value = yaml;
    document.getElementById("preset-command").textContent = fill(data.command, name, keep.join(","));
    Array.prototype.forEach.call(document.querySelectorAll(".preset-name"), function (node) { node.textContent = name; });
    if (downloadUrl) { URL.revokeObjectURL(downloadUrl); }
    downloadUrl = URL.createObjectURL(new Blob([yaml], { type: "application/x-yaml" }));
    var link = document.getElementById("preset-download");
    link.href = downloadUrl;
    link.download = name + ".yaml";
    link.textContent = "download " + name + ".yaml";
    panel.hidden = false;
    panel.scrollIntoView({ block: "nearest" });
  }
  document.getElementById("make-preset").addEventListener("click", makePreset);

  document.getElementById("copy-yaml").addEventListener("click", function () {
    var area = document.getElementById("preset-yaml");
    area.select();
    var done = function () { message.textContent = "Copied the preset YAML."; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(area.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  window.rtnmfAudition = { ticked: ticked };
  refresh();
})();
