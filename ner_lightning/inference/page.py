"""The serving page: a text box and a button; entities come back highlighted by the same renderer as
``predict format=html`` (``POST /render``). Inline CSS and script only: no network assets."""

from __future__ import annotations

from ner_lightning.inference.render import STYLE

SCRIPT = """
async function tag() {
  const status = document.getElementById('status');
  const result = document.getElementById('result'), legend = document.getElementById('legend');
  const fail = (detail) => { status.textContent = 'error: ' + detail; result.innerHTML = ''; legend.innerHTML = ''; };
  const texts = document.getElementById('text').value.split('\\n').filter(t => t.trim());
  if (!texts.length) { status.textContent = 'type some text first'; return; }
  status.textContent = 'tagging...';
  const post = (url, body) => fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          body: JSON.stringify(body)}).then(r => r.json().then(j => [r.ok, j]));
  const [ok, found] = await post('/predict', {texts});
  if (!ok) { fail(found.detail); return; }
  const docs = texts.map((text, i) => ({text, entities: found.entities[i]}));
  const [ok2, shown] = await post('/render', {docs});
  if (!ok2) { fail(shown.detail); return; }
  result.innerHTML = shown.html;
  legend.innerHTML = Object.entries(shown.legend).map(
    ([t, c]) => `<span style="background:${c}">${t}</span>`).join('');
  const n = found.entities.reduce((a, e) => a + e.length, 0);
  status.textContent = `${n} entities in ${texts.length} text(s)`;
}
"""

PAGE = f"""<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>ner_lightning</title>
<style>{STYLE} textarea{{width:100%;height:8em;font-size:1em}} button{{font-size:1em;padding:.3em 1.2em}}</style>
</head><body><h1>ner_lightning</h1>
<p>One text per line.</p>
<textarea id="text">赵阳在中科院工作。</textarea><br>
<button id="tag" onclick="tag()">Tag</button> <span id="status"></span>
<div class="legend" id="legend"></div><div id="result"></div>
<script>{SCRIPT}</script></body></html>"""
