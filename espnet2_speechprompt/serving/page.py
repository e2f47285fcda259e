"""The server's one-page web UI: pick a task, upload or record a clip, see the label, every
candidate's score and the units the verbalizer maps the label to. Recording captures the
microphone's samples in the page and sends them as a 16-bit WAV file."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SpeechPrompt task bank</title>
<style>
 body { font-family: sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; }
 fieldset { margin-bottom: 1em; } td, th { padding: 0.2em 0.8em; text-align: left; }
 #error { color: #b00; } #label { font-size: 1.6em; font-weight: bold; }
 thead td { font-weight: bold; }
</style>
</head>
<body>
<h1>SpeechPrompt task bank</h1>
<p id="backbone"></p>
<fieldset>
 <label>Task <select id="task"></select></label>
 <p id="labels"></p>
</fieldset>
<fieldset>
 <label>Audio file <input id="audio" type="file" accept="audio/*"></label>
 or <button id="record" type="button">Record</button>
 <audio id="player" controls hidden></audio>
</fieldset>
<button id="predict" type="button">Predict</button>
<p id="error"></p>
<div id="result" hidden>
 <p>Label: <span id="label"></span> (log-likelihood <span id="score"></span>)</p>
 <p>Verbalizer units of this label: <span id="units"></span></p>
 <table id="scores"></table>
</div>
<script>
const $ = (id) => document.getElementById(id);
let tasks = {}, clip = null, recorder = null;

function show(error) { $("error").textContent = error || ""; }

async function loadTasks() {
  const list = await (await fetch("/tasks")).json();
  for (const task of list) {
    tasks[task.name] = task;
    $("task").add(new Option(`${task.name} (${task.labels.length} labels)`, task.name));
  }
  if (list.length) $("backbone").textContent = `Backbone: ${list[0].backbone}`;
  describe();
}

function describe() {
  const task = tasks[$("task").value];
  $("labels").textContent = task ? `Labels: ${task.labels.join(", ")}` : "";
}

function wavOf(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (at, s) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, 2 * length, true);
  let at = 44;
  for (const chunk of chunks) for (const x of chunk) {
    view.setInt16(at, Math.max(-1, Math.min(1, x)) * 32767, true); at += 2;
  }
  return new Blob([view], { type: "audio/wav" });
}

async function toggleRecording() {
  if (recorder) {
    recorder.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const context = new AudioContext();
    const input = context.createMediaStreamSource(stream);
    const tap = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    tap.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    input.connect(tap); tap.connect(context.destination);
    recorder = { stop: () => {
      tap.disconnect(); input.disconnect(); stream.getTracks().forEach((t) => t.stop());
      clip = wavOf(chunks, context.sampleRate); context.close(); recorder = null;
      $("player").src = URL.createObjectURL(clip); $("player").hidden = false;
      $("audio").value = ""; $("record").textContent = "Record";
    } };
    $("record").textContent = "Stop";
  } catch (e) { show(`cannot record: ${e.message}`); }
}

async function predict() {
  show(""); $("result").hidden = true;
  const file = $("audio").files[0] || clip;
  if (!file) { show("choose an audio file or record a clip"); return; }
  const form = new FormData();
  form.append("task", $("task").value);
  form.append("audio", file, file.name || "recording.wav");
  const response = await fetch("/predict", { method: "POST", body: form });
  const answer = await response.json();
  if (!response.ok) { show(answer.error); return; }
  $("label").textContent = answer.label;
  $("score").textContent = answer.score.toFixed(3);
  $("units").textContent = (answer.verbalizer_units || []).map(
    ([unit, weight]) => `${unit} (${weight.toFixed(2)})`).join(", ");
  $("scores").replaceChildren();
  if (answer.scores) {
    const head = $("scores").createTHead().insertRow();
    head.insertCell().textContent = "label";
    head.insertCell().textContent = "log-likelihood";
  }
  const body = $("scores").createTBody();
  for (const [label, score] of Object.entries(answer.scores || {})) {
    const row = body.insertRow();
    row.insertCell().textContent = label;
    row.insertCell().textContent = score.toFixed(3);
  }
  $("result").hidden = false;
}

$("task").addEventListener("change", describe);
$("audio").addEventListener("change", () => { clip = null; $("player").hidden = true; });
$("record").addEventListener("click", toggleRecording);
$("predict").addEventListener("click", predict);
loadTasks().catch((e) => show(`cannot list the tasks: ${e.message}`));
</script>
</body>
</html>
"""
