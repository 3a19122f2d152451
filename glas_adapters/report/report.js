"use strict";
// The report's page: an index of every image and one view per image, from the JSON block
// #glas-data written by glas_adapters.report. Text from the data is only ever set as text.
(function () {
  const D = JSON.parse(document.getElementById("glas-data").textContent);
  const IMAGES = D.images;
  const $ = (id) => document.getElementById(id);
  const state = { order: IMAGES.map((_, n) => n), sortKey: "n", sortDir: 1, current: -1,
                  t: 0, s: 0, i: 0, opacity: Math.round(D.alpha * 100), scrollY: 0 };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }
  const fmtScore = (p) => (p * 100).toFixed(p >= 0.995 || p < 0.001 ? 2 : 1) + "%";
  const fmtValue = (v) => (v === 0 ? "0" : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(+v.toPrecision(3)) : v.toExponential(2));
  const sigmaText = (s) => "\u03c3 = " + s;
  const iterText = (it) => (it === null ? "final (all iterations)" : "iteration " + it);
  const labelText = (img) => (img.label === null ? "" : img.label_name ? img.label_name + " (" + img.label + ")" : "class " + img.label);
  const verdict = (img) => (img.wrong === true ? "wrong" : img.wrong === false ? "right" : "unknown");
  const NOUN = { detections: ["detection", "detections"], regions: ["region", "regions"] };
  const targetCount = (img) => {
    const [one, many] = NOUN[img.kind] || ["class", "classes"];
    return img.targets.length + " " + (img.targets.length > 1 ? many : one);
  };
  const fmtPx = (v) => String(+v.toFixed(1));

  // ---------------------------------------------------------------- boxes and regions
  // A detection's box (corners in pixels of its map's frame) or a region's outline (a path on the
  // segmenter's grid) as an SVG whose viewBox is that frame, stretched over the photo like the map.
  // SVG's namespace, read from an element the HTML parser makes (the page holds no URL at all)
  const SVG_NS = Object.assign(document.createElement("div"), { innerHTML: "<svg></svg>" }).firstChild.namespaceURI;
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
  function shapeLayer(img, only) {
    const layer = el("div", { className: "shapes" });
    img.targets.forEach((t, k) => {
      if ((!t.box && !t.outline) || (only !== null && k !== only)) return;
      const [h, w] = t.box ? t.frame : t.grid;
      const root = svg("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none", "data-t": k,
                                class: "shape" + (k === state.t ? " current" : "") });
      for (const cls of ["halo", "line"]) {
        const attrs = { class: cls, "vector-effect": "non-scaling-stroke" };
        if (t.box) {
          const [x1, y1, x2, y2] = t.box;
          root.appendChild(svg("rect", Object.assign(attrs, { x: x1, y: y1, width: x2 - x1, height: y2 - y1 })));
        } else {
          root.appendChild(svg("path", Object.assign(attrs, { d: t.outline })));
        }
      }
      layer.appendChild(root);
      if (t.box && only === null) {
        const tag = el("span", { className: "tag" + (k === state.t ? " current" : ""), "data-t": k,
                                 text: t.name + " " + fmtScore(t.score) });
        tag.style.left = (100 * t.box[0] / w) + "%";
        tag.style.top = (100 * t.box[1] / h) + "%";
        layer.appendChild(tag);
      }
    });
    return layer;
  }

  // ---------------------------------------------------------------- index
  function buildIndex() {
    const nMaps = IMAGES.reduce((a, img) => a + img.maps.length, 0);
    $("summary").textContent = IMAGES.length + " images, " + nMaps + " maps, from " + D.source +
      " (built " + D.generated + "). Click an image, or use the arrow keys in its view.";
    $("legend").textContent = "Maps are coloured with matplotlib's '" + D.cmap + "' colour map after " +
      "min-max normalisation of each map on its own to [0, 1] (glas_core.minmax_normalize: a flat map is all 0), " +
      "and stretched over the whole photo: the same colour map and normalisation as glas's PNG figures " +
      "(glas_core.viz). The overlay starts at opacity " + D.alpha + ". Scores are the model's clean " +
      "probabilities of each class.";
    const classes = [...new Set(IMAGES.map((img) => img.top_name))].sort();
    for (const c of classes) $("f-class").appendChild(el("option", { value: c, text: c }));
    if (D.labels) { $("f-wrong-box").hidden = false; $("wrong-note").hidden = false; }
    else $("table").classList.add("no-labels");
    IMAGES.forEach((img, n) => {
      const w = img.aspect >= 1 ? Math.round(96 / img.aspect) : 96;
      const h = img.aspect >= 1 ? 96 : Math.round(96 * img.aspect);
      // loading="lazy" before src: an image already in the cache would otherwise load at once.
      const thumb = img.thumb ? el("img", { loading: "lazy", width: w, height: h, alt: img.name, src: img.thumb })
                              : el("span", { text: "no picture" });
      const label = el("div", { role: "cell", className: "label-col" + (img.wrong ? " wrong" : ""),
                                text: D.labels ? labelText(img) + (img.label === null ? "" : ", " + verdict(img)) : "" });
      const cell = (text) => el("div", { role: "cell", text: text });
      const row = el("div", { className: "row", role: "row", "data-n": n }, [
        cell(String(n + 1)), el("div", { role: "cell", className: "thumb" }, [thumb]),
        el("div", { role: "cell" }, [el("a", { href: "#image=" + n, text: img.name, title: img.path })]),
        cell(img.top_name), cell(fmtScore(img.score)), label,
        cell(targetCount(img) + " \u00d7 " +
             img.sigmas.length + " \u03c3" + (img.maps.length > img.targets.length * img.sigmas.length
             ? ", " + img.maps.length + " maps" : "")),
      ]);
      row.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") openImage(n); });
      img.row = row;
    });
    for (const id of ["f-text", "f-class", "f-score", "f-wrong"]) {
      $(id).addEventListener("input", refreshIndex);
      $(id).addEventListener("change", refreshIndex);
    }
    for (const button of document.querySelectorAll("#table .head button")) {
      button.addEventListener("click", () => {
        const key = button.dataset.key;
        state.sortDir = state.sortKey === key ? -state.sortDir : (key === "score" ? -1 : 1);
        state.sortKey = key;
        refreshIndex();
      });
    }
    refreshIndex();
  }

  const SORT = {
    n: (a, b) => a - b,
    name: (a, b) => IMAGES[a].name.localeCompare(IMAGES[b].name),
    top: (a, b) => IMAGES[a].top_name.localeCompare(IMAGES[b].top_name),
    score: (a, b) => IMAGES[a].score - IMAGES[b].score,
    label: (a, b) => verdict(IMAGES[b]).localeCompare(verdict(IMAGES[a])),
    maps: (a, b) => IMAGES[a].maps.length - IMAGES[b].maps.length,
  };

  function refreshIndex() {
    const text = $("f-text").value.trim().toLowerCase();
    const cls = $("f-class").value;
    const minScore = parseFloat($("f-score").value) || 0;
    const wrong = $("f-wrong").value;
    const keep = (img) => (!cls || img.top_name === cls) && img.score >= minScore &&
      (!wrong || verdict(img) === wrong) &&
      (!text || img.path.toLowerCase().includes(text) || img.targets.some((t) => t.name.toLowerCase().includes(text)));
    const cmp = SORT[state.sortKey];
    state.order = IMAGES.map((_, n) => n).filter((n) => keep(IMAGES[n]))
      .sort((a, b) => state.sortDir * cmp(a, b) || a - b);
    const frag = document.createDocumentFragment();
    for (const n of state.order) frag.appendChild(IMAGES[n].row);
    $("rows").replaceChildren(frag);
    for (const button of document.querySelectorAll("#table .head button")) {
      if (button.dataset.key === state.sortKey) button.setAttribute("aria-sort", state.sortDir > 0 ? "ascending" : "descending");
      else button.removeAttribute("aria-sort");
    }
    $("count").textContent = "showing " + state.order.length + " of " + IMAGES.length + " images";
  }

  // ---------------------------------------------------------------- one image
  function openImage(n) {
    location.hash = "image=" + n;
  }

  function findMap(img, t, s, i) {
    return img.maps.find((m) => m.t === t && m.s === s && m.i === i) || null;
  }

  function photoImg(img) {
    const node = el("img", { src: img.photo, alt: "photo", className: "photo" });
    // A photo enlarged 2x or more shows its pixels, as matplotlib draws it; the map stays smooth.
    if (img.photo_px[1] * 2 <= 420) node.style.imageRendering = "pixelated";
    return node;
  }

  function stack(img, map, opacity, target) {
    const box = el("div", { className: "stack" });
    box.style.aspectRatio = String(1 / img.aspect);
    if (img.photo) box.appendChild(photoImg(img));
    if (map && map.src) {
      const heat = el("img", { src: map.src, alt: "map", className: "map" });
      heat.style.opacity = img.photo ? opacity / 100 : 1;
      box.appendChild(heat);
    } else {
      box.appendChild(el("div", { className: "missing", text: map ? "map not drawn: it has NaN or infinite values" : "no map" }));
    }
    if (img.kind) box.appendChild(shapeLayer(img, target));  // the target's box or outline over its map
    return box;
  }

  function showImage(n) {
    const img = IMAGES[n];
    if (state.current < 0) state.scrollY = window.scrollY;
    if (n !== state.current) {
      const sigma = state.current >= 0 ? IMAGES[state.current].sigmas[state.s] : null;
      state.t = 0;
      state.s = Math.max(0, img.sigmas.indexOf(sigma));
      const final = img.iterations.indexOf(null);
      state.i = final >= 0 ? final : img.iterations.length - 1;
      state.current = n;
      fillSelectors(img);
    }
    $("index").hidden = true;
    $("view").hidden = false;
    const pos = state.order.indexOf(n);
    $("pos").textContent = pos >= 0 ? (pos + 1) + " / " + state.order.length : "(not in the filtered index)";
    $("v-name").textContent = img.name;
    $("v-path").textContent = img.path + "  \u00b7  id " + img.id;
    $("v-label").textContent = img.label === null ? "" : "true label: " + labelText(img) + "; model was " + verdict(img);
    $("v-label").className = img.wrong ? "wrong" : "";
    drawMap(img);
    document.title = img.name + " \u00b7 GLAS report";
    window.scrollTo(0, 0);
  }

  function fillSelectors(img) {
    $("s-target").replaceChildren(...img.targets.map((t, k) =>
      el("option", { value: k, text: t.name + " (" + t.target + ")" + (img.kind ? " #" + (k + 1) : "") + ", " +
                                      fmtScore(t.score) })));
    $("s-sigma").replaceChildren(...img.sigmas.map((s, k) => el("option", { value: k, text: s })));
    $("s-iter").replaceChildren(...img.iterations.map((it, k) => el("option", { value: k, text: iterText(it) })));
    $("s-iter-box").hidden = img.iterations.length < 2 && img.iterations[0] === null;
  }

  function drawMap(img) {
    $("s-target").value = state.t;
    $("s-sigma").value = state.s;
    $("s-iter").value = state.i;
    $("opacity").value = state.opacity;
    $("opacity-val").textContent = (state.opacity / 100).toFixed(2);
    const map = findMap(img, state.t, state.s, state.i);
    const target = img.targets[state.t];
    const photo = el("div", { className: "stack", id: "v-photo" }, [img.photo ? photoImg(img)
      : el("div", { className: "missing", text: img.photo_note || "no photo" })]);
    photo.style.aspectRatio = String(1 / img.aspect);
    if (img.kind) photo.appendChild(shapeLayer(img, null));  // every box or outline, the selected one solid
    $("v-photo").replaceWith(photo);
    $("v-overlay").replaceWith(Object.assign(stack(img, map, state.opacity, state.t), { id: "v-overlay" }));
    $("v-caption").textContent = target.name + ", " + sigmaText(img.sigmas[state.s]) +
      (img.iterations.length > 1 || img.iterations[0] !== null ? ", " + iterText(img.iterations[state.i]) : "");
    drawColourBar(map);
    drawStrips(img);
    drawSettings(img, map, target);
  }

  function drawColourBar(map) {
    $("cb-img").src = D.colorbar;
    const ok = map && map.lo !== null;
    $("cb-lo").textContent = ok ? fmtValue(map.lo) : "";
    $("cb-mid").textContent = ok ? fmtValue((map.lo + map.hi) / 2) : "";
    $("cb-hi").textContent = ok ? fmtValue(map.hi) : "";
    $("cb-note").textContent = "map values, min-max normalised to 0 (blue) \u2026 1 (red) for colour";
    const status = !map ? "No map for this target, sigma and iteration." :
      map.status === "flat" ? "Flat map: every pixel has the same value, so nothing is salient (drawn as 0)." :
      map.status === "nonfinite" ? "This map holds NaN or infinite values; it is not drawn." : "";
    $("v-status").textContent = status;
    $("v-status").hidden = !status;
  }

  function strip(box, items) {
    $(box).replaceChildren(...items.map(([map, caption, current, pick]) => {
      const fig = el("figure", { className: current ? "current" : "" },
        [stack(IMAGES[state.current], map, state.opacity, state.t), el("figcaption", { text: caption })]);
      fig.addEventListener("click", pick);
      return fig;
    }));
    $(box + "-box").hidden = items.length < 2;
  }

  function drawStrips(img) {
    strip("v-scales", img.sigmas.map((s, k) => [findMap(img, state.t, k, state.i), sigmaText(s), k === state.s,
      () => { state.s = k; drawMap(img); }]));
    const iters = img.iterations.map((it, k) => [findMap(img, state.t, state.s, k), iterText(it), k === state.i,
      () => { state.i = k; drawMap(img); }]).filter((item) => item[0]);
    strip("v-iters", img.iterations.some((it) => it !== null) ? iters : []);
  }

  function drawSettings(img, map, target) {
    const rows = [["target", target.name + " (class " + target.target + ")"], ["clean score", fmtScore(target.score)],
      ["sigma", img.sigmas[state.s] + " (grid cells: light, shadow, spatial)"]];
    if (target.box) {
      rows.splice(1, 0, ["box", target.box.map(fmtPx).join(", ") + " (x1, y1, x2, y2 in pixels of the " +
        target.frame[1] + " \u00d7 " + target.frame[0] + " image)"]);
    }
    if (target.outline) {
      rows.splice(1, 0, ["region", target.pixels + " of the " + target.grid[1] + " \u00d7 " + target.grid[0] +
        " output grid's pixels (outlined)"]);
    }
    if (map) {
      const ran = map.runtime && map.runtime !== "unknown" ? " on " + map.runtime : "";
      rows.push(["grid", map.grid + " points per axis"], ["mode", map.mode], ["forward passes", String(map.n_forward) + ran],
        ["map", map.shape.join(" \u00d7 ") + " " + map.dtype + ", " + map.file + " [" + map.key + "]"],
        ["map values", map.lo === null ? "not finite" : fmtValue(map.lo) + " \u2026 " + fmtValue(map.hi)]);
    }
    if (img.photo_note) rows.push(["photo", img.photo_note]);
    $("v-settings").tBodies[0].replaceChildren(...rows.map(([k, v]) => el("tr", {}, [el("td", { text: k }), el("td", { text: v })])));
  }

  function step(delta) {
    if (state.current < 0) return;
    const order = state.order.includes(state.current) ? state.order : IMAGES.map((_, n) => n);
    if (!order.length) return;
    const pos = order.indexOf(state.current);
    const next = order[(pos + delta + order.length) % order.length];
    history.replaceState(null, "", "#image=" + next);
    showImage(next);
  }

  function showIndex() {
    const wasView = state.current >= 0;
    state.current = -1;
    $("view").hidden = true;
    $("index").hidden = false;
    document.title = document.querySelector("header h1").textContent + " \u00b7 GLAS report";
    if (wasView) window.scrollTo(0, state.scrollY);
  }

  function route() {
    const m = /^#image=(\d+)$/.exec(location.hash);
    const n = m ? parseInt(m[1], 10) : -1;
    if (n >= 0 && n < IMAGES.length) showImage(n); else showIndex();
  }

  function wireView() {
    const pick = (id, key) => $(id).addEventListener("change", () => {
      state[key] = parseInt($(id).value, 10);
      $(id).blur();  // so the arrow keys go back to moving between images
      drawMap(IMAGES[state.current]);
    });
    pick("s-target", "t"); pick("s-sigma", "s"); pick("s-iter", "i");
    $("opacity").addEventListener("input", () => {
      state.opacity = parseInt($("opacity").value, 10);
      $("opacity-val").textContent = (state.opacity / 100).toFixed(2);
      for (const heat of document.querySelectorAll("#view .stack img.map")) {
        if (IMAGES[state.current].photo) heat.style.opacity = state.opacity / 100;
      }
    });
    $("prev").addEventListener("click", () => step(-1));
    $("next").addEventListener("click", () => step(1));
    document.addEventListener("keydown", (ev) => {
      if (ev.altKey || ev.ctrlKey || ev.metaKey || state.current < 0) return;
      const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName);
      if (ev.key === "Escape") { location.hash = ""; ev.preventDefault(); }
      else if (typing) return;
      else if (ev.key === "ArrowRight" || ev.key === "j") { step(1); ev.preventDefault(); }
      else if (ev.key === "ArrowLeft" || ev.key === "k") { step(-1); ev.preventDefault(); }
    });
    window.addEventListener("hashchange", route);
  }

  buildIndex();
  wireView();
  route();
  document.body.dataset.ready = String(performance.now());
})();
