// The explorer page: the sentence, its next-token options, Undo/Redo, Continue, and the GLTR view.
"use strict";

const $ = (id) => document.getElementById(id);
const text = $("text");
const undoStack = [];
const redoStack = [];
let latest = 0; // the newest request's number: answers to older ones are dropped

function visible(token) {
  // Leading spaces and newlines shown: " think" is "␣think", "\n" is "↵".
  return token.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error);
  return answer;
}

function knobs() {
  return {
    temperature: Number($("temperature").value),
    top_k: Number($("top_k").value),
    top_p: Number($("top_p").value),
  };
}

function setText(value, record = true) {
  if (record) {
    undoStack.push(text.value);
    redoStack.length = 0;
  }
  text.value = value;
  refresh();
}

function showOptions(answer) {
  const list = $("options");
  list.replaceChildren();
  for (const option of answer.options) {
    const item = document.createElement("li");
    item.className = "option";
    item.dataset.token = option.token;
    item.title = `model: ${(100 * option.p_model).toFixed(2)}%`;
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * option.p).toFixed(1)}%`;
    const tok = document.createElement("span");
    tok.className = "tok";
    tok.textContent = visible(option.token);
    item.append(pct, tok);
    item.addEventListener("click", () => setText(text.value + option.token));
    list.append(item);
  }
  $("cut").textContent =
    answer.cut_mass > 0
      ? `the knobs cut ${(100 * answer.cut_mass).toFixed(1)}% of the model's mass (${answer.kept_tokens} tokens left)`
      : "";
}

function showScores(answer) {
  const box = $("scored");
  box.replaceChildren();
  for (const token of answer.tokens) {
    const span = document.createElement("span");
    span.className = token.rank <= 1 ? "r1" : token.rank <= 10 ? "r10" : token.rank <= 100 ? "r100" : "rest";
    span.textContent = token.token;
    const alternatives = token.top.map((t) => `${(100 * t.p).toFixed(1)}% ${visible(t.token)}`).join("\n");
    span.title = `${visible(token.token)}: ${(100 * token.p).toFixed(2)}%, rank ${token.rank}\n${alternatives}`;
    box.append(span);
  }
  $("loss").textContent =
    answer.loss === null ? "" : `loss ${answer.loss.toFixed(3)} nats/token, perplexity ${answer.perplexity.toFixed(1)}`;
}

async function refresh() {
  const number = ++latest;
  $("undo").disabled = undoStack.length === 0;
  $("redo").disabled = redoStack.length === 0;
  try {
    const [next, scores] = await Promise.all([
      api("/api/next", { text: text.value, k: Number($("k").value), ...knobs() }),
      api("/api/score", { text: text.value }),
    ]);
    if (number !== latest) return;
    showOptions(next);
    showScores(scores);
    $("notice").textContent = next.truncated
      ? "The text is longer than the model's context: only its last tokens are read."
      : "";
    $("error").textContent = "";
  } catch (error) {
    if (number === latest) $("error").textContent = error.message;
  }
}

$("undo").addEventListener("click", () => {
  if (!undoStack.length) return;
  redoStack.push(text.value);
  setText(undoStack.pop(), false);
});
$("redo").addEventListener("click", () => {
  if (!redoStack.length) return;
  undoStack.push(text.value);
  setText(redoStack.pop(), false);
});
$("continue").addEventListener("click", async () => {
  try {
    const seed = $("seed").value === "" ? null : Number($("seed").value);
    const answer = await api("/api/generate", {
      text: text.value, max_tokens: Number($("max_tokens").value), seed, ...knobs(),
    });
    for (const token of answer.tokens) { // one undo step a token
      undoStack.push(text.value);
      text.value += token.token;
    }
    redoStack.length = 0;
    refresh();
  } catch (error) {
    $("error").textContent = error.message;
  }
});
text.addEventListener("input", refresh);
for (const id of ["temperature", "top_k", "top_p", "k"]) $(id).addEventListener("change", refresh);

api("/api/info").then((info) => {
  const shape = `${info.n_layer} layers, ${info.n_head} heads, ${info.n_embd} wide, context ${info.block_size}`;
  const step = info.step === undefined ? "" : `, step ${info.step}`;
  $("info").textContent =
    `${info.source} (${info.preset || shape}; ${info.parameters.toLocaleString()} parameters${step}); ` +
    `vocabulary ${info.vocabulary}`;
});
refresh();
