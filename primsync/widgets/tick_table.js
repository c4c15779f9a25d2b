// The review grid's browser half: DataTables (the copy itables ships, prepended to this file by
// primsync/widgets/tick_table.py, which binds `DataTable`) for sorting, searching and paging;
// the ticks are a set of row positions kept here.
//
// The rows arrive once as plain values (`rows`); every cell is escaped here, its whole text on
// hover. A plain click on a row or its box toggles that row, a Shift-click gives the range from
// the last clicked row (in the order shown) the state of the row clicked, Space toggles the box
// that has the focus, the box in the heading ticks every row that can be ticked (or none, when
// all are). What changed is sent to the kernel once per gesture (`ticked`, sorted positions); a
// change from the kernel replaces the set. Only the page shown has DOM nodes (deferRender), and
// a tick touches only them: ticking all of 50,000 rows costs what ticking one does.
//
// DataTables' Select extension is not used: it builds an API object per row it (de)selects,
// which made "Tick all" of 5,000 rows take ~0.2 s in the browser alone (benchmarks/grid.py).
//
// A row (selection.grid_view): [received, folder, from, subject, imported into, context,
// annexed to, kind]; kind: green | yellow | probable | imported (imported rows cannot be ticked).

const CONTEXT = 5;
const KIND = 7;
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const BOX = '<input type="checkbox" class="dt-select-checkbox primsync-box" aria-label="Tick">';
const ALL = '<input type="checkbox" class="dt-select-checkbox primsync-all" aria-label="Tick all">';

function escape(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function text(path) {
  return (value, type) => {
    if (type !== "display") return value ?? "";
    const escaped = escape(value);
    // a folder path breaks after its "/" (INBOX/<wbr>Clients), never inside a name
    const shown = path ? escaped.replaceAll("/", "/<wbr>") : escaped;
    const cls = path ? ' class="primsync-path"' : "";
    return `<span title="${escaped}"${cls}>${shown}</span>`;
  };
}

function context(value, type, row) {
  if (type !== "display") return value;
  return `<span class="primsync-ctx primsync-${escape(row[KIND])}">${escape(value)}</span>`;
}

function columns(headings) {
  const cells = [
    { data: null, render: (v, type) => (type === "display" ? BOX : ""), orderable: false,
      searchable: false, className: "dt-center", width: "24px", title: ALL },
    { data: 0, render: text(false), width: "120px" },
    { data: 1, render: text(true) },
    { data: 2, render: text(false) },
    { data: 3, render: text(false) },
    { data: 4, render: text(false) },
    { data: CONTEXT, render: context, className: "dt-center" },
    { data: 6, render: text(false) },
  ];
  return cells.map((c, i) => (i === 0 ? c : { ...c, title: escape(headings[i - 1]) }));
}

function render({ model, el }) {
  el.classList.add("primsync-tick-table");
  let dt = null;
  let data = []; // the rows as given: DataTables numbers them in this order
  let ticked = new Set();
  let open = 0; // rows that can be ticked
  let last = null; // the row of the last plain click, where a Shift-click's range starts
  let sending = false;

  const imported = (i) => data[i] !== undefined && data[i][KIND] === "imported";

  function paint(tr, i) {
    const on = ticked.has(i);
    tr.classList.toggle("selected", on);
    const box = tr.querySelector("input.primsync-box");
    if (box) box.checked = on;
  }

  // the rows on screen, and the heading's box: checked when every row that can be ticked is,
  // half when some are
  function show() {
    dt.rows({ page: "current" }).every(function () {
      paint(this.node(), this.index());
    });
    const all = el.querySelector("thead input.primsync-all");
    if (all) {
      all.checked = open > 0 && ticked.size === open;
      all.indeterminate = ticked.size > 0 && ticked.size < open;
    }
  }

  function send() {
    show();
    sending = true;
    try {
      model.set("ticked", [...ticked].sort((a, b) => a - b));
      model.save_changes();
    } finally {
      sending = false;
    }
  }

  function set(rows, on) {
    for (const i of rows) {
      if (imported(i)) continue;
      if (on) ticked.add(i);
      else ticked.delete(i);
    }
  }

  function clicked(event) {
    const tr = event.target.closest("tbody tr");
    if (!tr || !dt.row(tr).any()) return;
    const i = dt.row(tr).index();
    if (imported(i)) {
      paint(tr, i); // a click on its (hidden) box changes nothing
      return;
    }
    const on = !ticked.has(i);
    if (event.shiftKey && last !== null) {
      const order = dt.rows({ search: "applied", order: "applied" }).indexes().toArray();
      const [a, b] = [order.indexOf(last), order.indexOf(i)].sort((x, y) => x - y);
      set(a < 0 ? [i] : order.slice(a, b + 1), on);
    } else {
      set([i], on);
    }
    last = i;
    send();
  }

  function tickAll(event) {
    event.stopPropagation(); // not a sort
    if (ticked.size === open) ticked = new Set();
    else set(data.keys(), true);
    send();
  }

  function build() {
    if (dt) {
      dt.destroy();
      el.replaceChildren();
    }
    data = model.get("rows");
    ticked = new Set(model.get("ticked"));
    open = data.filter((row) => row[KIND] !== "imported").length;
    last = null;
    const table = document.createElement("table");
    table.className = "display compact primsync-grid-table";
    el.appendChild(table);
    dt = new DataTable(table, {
      data,
      columns: columns(model.get("headings")),
      order: [], // the rows come newest first; a click on a heading sorts
      deferRender: true,
      pageLength: model.get("page_length"),
      autoWidth: false,
      createdRow: (tr, row) => tr.classList.add(`primsync-row-${row[KIND]}`),
      rowCallback: (tr, row, shown, all, i) => paint(tr, i),
    });
    dt.on("draw", show);
    table.tBodies[0].addEventListener("click", clicked);
    // a Shift-click ticks a range: it should not also select the text in between
    table.tBodies[0].addEventListener("mousedown", (e) => e.shiftKey && e.preventDefault());
    el.querySelector("thead input.primsync-all").addEventListener("click", tickAll);
    show();
  }

  build();
  model.on("change:rows", build);
  model.on("change:ticked", () => {
    if (sending) return;
    ticked = new Set(model.get("ticked"));
    show();
  });
  return () => dt && dt.destroy();
}

export default { render };
