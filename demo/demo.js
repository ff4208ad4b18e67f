// The browser demo: semantic search over 256 WordNet glosses (data/glosses.json,
// written by scripts/make-demo-data.ts), embedded on the page's GPU with the
// library's one-module build (../dist/index.js, `npm run build`).
//
//   load:   Embedder.load(../fixtures/tiny-decoder/)  -> navigator.gpu device + weights
//   index:  E = embed(glosses)                        [N, C], unit rows, in batches of 32
//   query:  q = embed([query])                        [C], unit
//           score_i = E_i . q  (cosine, both unit)  -> the 10 highest
//
// Glosses are embedded shortest first, BATCH at a time, so each batch pads
// little and the page repaints (progress bar) between batches.
//
// State for tests and scripts: body[data-state] is loading | ready | error;
// body[data-embed-seconds] is how long the glosses took, once ready;
// #results[data-query] is the query whose results are listed; each result is
// an <li> with data-id, data-word, data-pos and data-score (full precision).

// Which prompt: 'none' rather than 'lco'. The tiny decoder was only
// pretrained as a language model, never tuned with LCO-Emb's "Summarize the
// above text in one word:" prompt, so the prompt's last token says more about
// the prompt than about the text. Measured in Node with the same API on
// held-out glosses, querying each gloss by its own headword (last-token pooling):
//   300 glosses:  none MRR 0.069, R@10 0.103   lco MRR 0.034, R@10 0.060   (chance 0.021, 0.033)
//   1000 glosses: none MRR 0.034, R@10 0.060   lco MRR 0.019, R@10 0.028   (chance 0.007, 0.010)
const PROMPT = 'none';
const BATCH = 32;
const TOP_K = 10;
const EXAMPLES = ['a device for hearing', 'relating to music', 'to move quickly', 'a kind of fish'];
const POS_NAMES = { n: 'noun', v: 'verb', a: 'adj' };

const $ = (id) => document.getElementById(id);
const MODEL_URL = new URL('../fixtures/tiny-decoder/', import.meta.url);
const DATA_URL = new URL('./data/glosses.json', import.meta.url);

/** "Name: message" of a thrown value (the stack goes to the console). */
function describe(err) {
  console.error(err);
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Shows an error on the page and stops: state "error". */
function fail(title, detail) {
  document.body.dataset.state = 'error';
  $('error').textContent = detail ? `${title}\n\n${detail}` : title;
  $('status').textContent = 'failed';
}

function setStatus(text, fraction) {
  $('status').textContent = text;
  if (fraction !== undefined) $('progress-bar').style.width = `${(100 * fraction).toFixed(1)}%`;
}

/** Lets the browser paint (a task boundary; requestAnimationFrame stalls in background tabs). */
const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The top k rows of scores, best first (ties: lower index first). */
function topK(scores, k) {
  const order = Array.from(scores.keys());
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k);
}

function renderResults(query, glosses, scores) {
  const list = $('results');
  list.replaceChildren();
  for (const i of topK(scores, TOP_K)) {
    const g = glosses[i];
    const li = document.createElement('li');
    Object.assign(li.dataset, { id: g.id, word: g.word, pos: g.pos, score: String(scores[i]) });
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = scores[i].toFixed(4);
    const body = document.createElement('div');
    const word = document.createElement('span');
    word.className = 'word';
    word.textContent = g.word;
    const pos = document.createElement('span');
    pos.className = 'pos';
    pos.textContent = POS_NAMES[g.pos] ?? g.pos;
    const gloss = document.createElement('span');
    gloss.className = 'gloss';
    gloss.textContent = g.gloss;
    body.append(word, pos, gloss);
    li.append(score, body);
    list.append(li);
  }
  list.dataset.query = query;
  $('hint').textContent = `Top ${TOP_K} of ${glosses.length} glosses for “${query}” (cosine similarity):`;
}

async function main() {
  if (!navigator.gpu) {
    $('adapter').textContent = 'none';
    fail('This browser has no WebGPU (navigator.gpu is undefined).',
      'Use a browser with WebGPU: Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows, or Chromium started with --enable-unsafe-webgpu. ' +
      (window.isSecureContext ? '' : 'WebGPU also needs a secure context: open the page from http://localhost, http://127.0.0.1 or https://.'));
    return;
  }
  let lib;
  try {
    lib = await import('../dist/index.js');
  } catch (err) {
    fail('Could not load the library (../dist/index.js).', `Run \`npm run build\` first.\n${describe(err)}`);
    return;
  }
  const { Embedder, VERSION } = lib;

  let embedder;
  let glosses;
  try {
    setStatus('loading the model and the glosses…');
    // vision: false: a text-only page need not ask for vision_config.json.
    const [e, response] = await Promise.all([Embedder.load(MODEL_URL, { vision: false }), fetch(DATA_URL)]);
    embedder = e;
    if (!response.ok) throw new Error(`${DATA_URL.pathname}: HTTP ${response.status}`);
    glosses = await response.json();
  } catch (err) {
    fail('Loading failed.', describe(err));
    return;
  }
  $('adapter').textContent = embedder.gpu.adapterName;
  $('model').textContent = `tiny-decoder (${MODEL_URL.pathname}), lco-webgpu ${VERSION}, prompt "${PROMPT}", last-token pooling`;

  // Embed shortest first so each batch of BATCH pads little; rows land by index.
  const order = Array.from(glosses.keys()).sort((a, b) => glosses[a].gloss.length - glosses[b].gloss.length || a - b);
  let matrix; // [N, C] row-major, unit rows
  let dim = 0;
  const t0 = performance.now();
  try {
    for (let start = 0; start < order.length; start += BATCH) {
      setStatus(`embedding glosses: ${start} / ${glosses.length}`, start / glosses.length);
      await yieldToPage();
      const rows = order.slice(start, start + BATCH);
      const vectors = await embedder.embed(rows.map((i) => glosses[i].gloss), { prompt: PROMPT, batchSize: BATCH });
      if (!matrix) {
        dim = vectors[0].length;
        matrix = new Float32Array(glosses.length * dim);
      }
      rows.forEach((i, k) => matrix.set(vectors[k], i * dim));
    }
  } catch (err) {
    fail('Embedding the glosses failed.', describe(err));
    return;
  }
  const seconds = (performance.now() - t0) / 1000;
  document.body.dataset.embedSeconds = seconds.toFixed(2);
  setStatus(`ready: ${glosses.length} glosses embedded in ${seconds.toFixed(1)} s (${dim} dimensions)`, 1);

  async function search(query) {
    query = query.trim();
    if (!query) return;
    $('go').disabled = true;
    try {
      const [q] = await embedder.embed([query], { prompt: PROMPT });
      const scores = new Float32Array(glosses.length);
      for (let i = 0; i < glosses.length; i++) {
        let dot = 0;
        for (let c = 0, row = i * dim; c < dim; c++) dot += matrix[row + c] * q[c];
        scores[i] = dot;
      }
      renderResults(query, glosses, scores);
    } catch (err) {
      fail('Search failed.', describe(err));
    } finally {
      $('go').disabled = false;
    }
  }

  $('search').addEventListener('submit', (event) => {
    event.preventDefault();
    search($('query').value);
  });
  for (const text of EXAMPLES) {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.textContent = text;
    chip.addEventListener('click', () => {
      $('query').value = text;
      search(text);
    });
    $('examples').append(' ', chip);
  }
  $('query').disabled = false;
  $('go').disabled = false;
  $('hint').textContent = 'Type a description and press Enter.';
  document.body.dataset.state = 'ready';
  $('query').focus();
}

main().catch((err) => fail('Unexpected error.', describe(err)));
