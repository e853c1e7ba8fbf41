// The variant editor: a Markdown toolbar over the body, and a live preview of the unsaved
// text rendered by the server as a send would be. Without this script the form works as a
// plain form; nothing here saves anything.

const DEBOUNCE_MS = 400;

const editor = document.getElementById("editor");
const form = editor && editor.closest("form");
const body = form && form.querySelector("textarea[name=body]");

if (editor && form && body) {
  setUpToolbar(editor.querySelector(".md-toolbar"), body, form);
  setUpPreview(editor, body, form);
}

// ---- Toolbar ----------------------------------------------------------------------------

// Each action wraps the selection (or a word to type over) or prefixes the selected lines.
const WRAPS = {
  bold: ["**", "**", "bold text"],
  italic: ["*", "*", "italic text"],
  link: ["[", "](https://)", "link text"],
};
const PREFIXES = { heading: () => "## ", bullets: () => "- ", quote: () => "> ", numbers: (i) => `${i + 1}. ` };

function setUpToolbar(toolbar, area, owner) {
  if (!toolbar) return;
  toolbar.hidden = false;
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-md]");
    if (button) apply(area, button.dataset.md);
  });
  area.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) return;
    const action = { b: "bold", i: "italic" }[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    apply(area, action);
  });
  const format = owner.querySelector("[name=body_format]");
  const markdownOnly = () => {
    const html = format && format.value === "html";
    for (const button of toolbar.querySelectorAll("button[data-md]")) {
      button.disabled = html && button.dataset.md !== "placeholder";
    }
  };
  if (format) format.addEventListener("change", markdownOnly);
  markdownOnly();
}

function apply(area, action) {
  area.focus();
  const { selectionStart: start, selectionEnd: end, value } = area;
  if (action === "placeholder") {
    replace(area, start, end, "{{ name }}", start + 10, start + 10);
  } else if (WRAPS[action]) {
    const [before, after, word] = WRAPS[action];
    const inner = value.slice(start, end) || word;
    const from = start + before.length;
    replace(area, start, end, before + inner + after, from, from + inner.length);
  } else if (PREFIXES[action]) {
    const lineStart = value.lastIndexOf("\n", start - 1) + 1;
    const lines = value.slice(lineStart, end).split("\n");
    const text = lines.map((line, i) => PREFIXES[action](i) + line).join("\n");
    replace(area, lineStart, end, text, lineStart + text.length, lineStart + text.length);
  }
}

// Replace [start, end) with text as typing would (so undo works), then select [from, to).
function replace(area, start, end, text, from, to) {
  area.setSelectionRange(start, end);
  const typed = document.execCommand && document.execCommand("insertText", false, text);
  if (!typed) {
    area.setRangeText(text, start, end, "end");
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }
  area.setSelectionRange(from, to);
}

// ---- Live preview -----------------------------------------------------------------------

function setUpPreview(root, area, owner) {
  const url = root.dataset.preview;
  const pane = root.querySelector(".editor-preview");
  const frame = root.querySelector("#preview-frame");
  const subject = root.querySelector("#preview-subject");
  const problem = root.querySelector("#preview-error");
  const token = owner.querySelector("[name=csrf_token]");
  if (!url || !pane || !frame || !problem || !token) return;
  pane.hidden = false;
  let timer = null;
  let inFlight = null;

  const value = (name) => {
    const field = owner.querySelector(`[name=${name}]`);
    return field ? field.value : "";
  };

  function showProblem(error) {
    const where = error.line ? `line ${error.line}: ` : "";
    const part = error.part === "subject" ? "Subject, " : "";
    const inBody = error.part !== "subject" && error.line;
    problem.replaceChildren(`${part}${where}${error.message}`);
    if (inBody) problem.append(" ", lineButton(area, error.line));
    problem.hidden = false;
    area.setAttribute("aria-invalid", inBody ? "true" : "false");
    area.dataset.errorLine = inBody ? String(error.line) : "";
    if (inBody) area.setAttribute("aria-describedby", "preview-error");
  }

  function showPreview(answer) {
    frame.srcdoc = answer.html;
    if (subject) subject.textContent = answer.subject;
    problem.hidden = true;
    problem.textContent = "";
    area.removeAttribute("aria-invalid");
    area.removeAttribute("aria-describedby");
    area.dataset.errorLine = "";
  }

  async function render() {
    if (!value("language").trim()) return; // a new variant: nothing to render until it has one
    if (inFlight) inFlight.abort(); // only the newest text matters
    const controller = new AbortController();
    inFlight = controller;
    const draft = {};
    for (const name of ["language", "subject", "preheader", "body", "body_format",
      "footer_reason", "unsubscribe_label", "preferences_label"]) {
      draft[name] = value(name);
    }
    try {
      const answer = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token.value },
        body: JSON.stringify(draft),
        signal: controller.signal,
      });
      const shown = await answer.json().catch(() => null);
      if (controller !== inFlight) return;
      if (shown && shown.error) showProblem(shown.error);
      else if (shown && answer.ok) showPreview(shown);
      else showProblem({ message: `the preview failed (${answer.status}); the last one stays` });
    } catch (error) {
      if (error.name !== "AbortError") {
        showProblem({ message: "the preview could not be reached; the last one stays" });
      }
    } finally {
      if (controller === inFlight) inFlight = null;
    }
  }

  owner.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(render, DEBOUNCE_MS);
  });
  owner.addEventListener("change", () => {
    clearTimeout(timer);
    timer = setTimeout(render, DEBOUNCE_MS);
  });
  render();
}

// A button that selects the given line of the textarea, so the organiser lands on it.
function lineButton(area, line) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = `Go to line ${line}`;
  button.addEventListener("click", () => {
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  });
  return button;
}
