/* zoo-site: checkboxes that stay compact: past MANY, folded behind a summary ("6 of 51:
 * 0, 10M, …") with a filter box and quick picks. A change fires the form's "change". */

import { el, spread } from "./util.js";

const MANY = 12;

export function multiPick(box, name, items, chosen) {
  const inputs = items.map(({ value, label }) => {
    const input = el("input", { type: "checkbox", name, value, checked: chosen.includes(value) });
    const row = el("label");
    row.append(input, " ", label);
    return { input, row, text: `${value} ${label}`.toLowerCase() };
  });
  const legend = box.querySelector("legend");
  if (inputs.length <= MANY) {
    box.replaceChildren(legend, ...inputs.map((i) => i.row));
    return;
  }
  const before = box.querySelector("details.pick"); /* the form is drawn anew after each change */
  const summary = el("summary");
  const filter = el("input", { type: "search", placeholder: "filter…", autocomplete: "off" });
  filter.setAttribute("aria-label", `Filter the ${legend.textContent.toLowerCase()}`);
  const list = el("div", "pick-list");
  list.append(...inputs.map((i) => i.row));
  const count = inputs.length;
  const set = (picks) => {
    inputs.forEach((i, k) => { i.input.checked = picks.includes(k); });
    box.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const button = (text, picks) => {
    const b = el("button", { type: "button" }, text);
    b.addEventListener("click", () => set(picks()));
    return b;
  };
  const tools = el("div", "pick-tools");
  tools.append(filter, button("All", () => [...inputs.keys()]), button("6 evenly", () => spread(count, -1, 6)));
  filter.addEventListener("input", () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const i of inputs) i.row.hidden = !words.every((w) => i.text.includes(w));
  });
  const picked = inputs.filter((i) => i.input.checked).map((i) => i.row.textContent.trim());
  const shown = picked.slice(0, 4).join(", ") + (picked.length > 4 ? ", …" : "");
  summary.textContent = `${picked.length} of ${count}: ${shown}`;
  const details = el("details", "pick");
  details.append(summary, tools, list);
  box.replaceChildren(legend, details);
  if (before) {
    details.open = before.open;
    filter.value = before.querySelector("input[type=search]").value;
    filter.dispatchEvent(new Event("input"));
    list.scrollTop = before.querySelector(".pick-list").scrollTop;
  }
}
