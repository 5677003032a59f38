#!/usr/bin/env bash
# report.html in a real browser: the page of a `flopslab report --quick` run (cli.report_quick
# writes it) opened by Debian's chromium, headless, from the file alone. Checks that it needs
# nothing from outside, that it holds report.md's tables (sortable) and its charts embedded,
# and that its screenshot is not blank.
#   tests/report_html.sh REPORT_DIR SCRATCH_DIR
set -euo pipefail
dir=$1 scratch=$2
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "no chromium: scripts/setup installs Debian's chromium package"; exit 1; }
[[ -s $dir/report.html ]] || { echo "$dir/report.html is missing"; exit 1; }
mkdir -p "$scratch"
python=/usr/bin/python3
[[ -x $python ]] || python=python3
flags=(--headless=new --no-sandbox --disable-gpu --no-first-run --disable-extensions --virtual-time-budget=3000)
"$browser" "${flags[@]}" --dump-dom "file://$dir/report.html" >"$scratch/report-dom.html" 2>/dev/null
"$browser" "${flags[@]}" --window-size=1200,1600 --screenshot="$scratch/report.png" "file://$dir/report.html" >/dev/null 2>&1
"$python" - "$dir" "$scratch" <<'PY'
import html.parser, os, re, sys
dir, scratch = sys.argv[1], sys.argv[2]
page = open(f"{dir}/report.html").read()
md = open(f"{dir}/report.md").read()

class Counter(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables = self.headers = self.images = self.embedded = 0
        self.open = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables += 1
            assert "sortable" in (a.get("class") or ""), "a table that does not sort"
        if tag == "th":
            self.headers += 1
        if tag == "img":
            self.images += 1
            self.embedded += (a.get("src") or "").startswith("data:image/png;base64,")

c = Counter()
c.feed(page)
outside = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//|url\(\s*["\']?(?:https?:)?//', page)
assert not outside, f"the page references something outside itself: {outside}"
tables_in_md = len(re.findall(r"^\| .*\n\|[ :|-]+\|$", md, re.M))
assert c.tables == tables_in_md and c.tables >= 5, f"{c.tables} tables in the page, {tables_in_md} in report.md"
charts = len(re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", md))
present = sum(os.path.exists(f"{dir}/{p}") for p in re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", md))
assert c.embedded == present, f"{c.embedded} charts embedded, {present} drawn (of {charts} named)"
assert "addEventListener(\"click\"" in page, "no sorting script"
# The roofline drawn in the page: one circle per placed point of report.json, each with its
# hover text (name, threads, bound) as the JSON has it.
import json
report = json.load(open(f"{dir}/report.json"))
placed = [p for p in report["sections"].get("roofline", {}).get("points", [])
          if p.get("flops", 0) > 0 and "not_placed" not in p]
class Svg(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.circles, self.titles, self.in_circle, self.in_title, self.svgs = 0, [], False, False, 0
    def handle_starttag(self, tag, attrs):
        if tag == "svg" and "roofline" in (dict(attrs).get("class") or ""):
            self.svgs += 1
        if tag == "circle":
            self.circles += 1
            self.in_circle = True
        if tag == "title" and self.in_circle:
            self.in_title = True
            self.titles.append("")
    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag == "circle":
            self.in_circle = False
    def handle_data(self, data):
        if self.in_title:
            self.titles[-1] += data
svg_dom = Svg()
svg_dom.feed(open(f"{scratch}/report-dom.html").read())
if placed:
    assert svg_dom.svgs == 1, f"{svg_dom.svgs} roofline charts in the browser's page"
    assert svg_dom.circles == len(placed), f"{svg_dom.circles} points drawn, {len(placed)} placed in report.json"
    for p in placed:
        want = f"{p['name']} ({p['threads']} thread"
        hits = [t for t in svg_dom.titles if t.startswith(want) and f"bound: {p['bound_roof']}" in t]
        assert hits, f"no hover text for {want} with bound {p['bound_roof']}"
        assert f"{100 * p['fraction_of_bound']:.1f}% of it" in hits[0], f"{hits[0]} against {p['fraction_of_bound']}"
dom = open(f"{scratch}/report-dom.html").read()
assert dom.count("<table") == c.tables, "the browser's page lost tables"
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as image
pixels = image.imread(f"{scratch}/report.png")
assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, f"screenshot shape {pixels.shape}"
assert float(pixels[..., :3].std()) > 0.02, "the screenshot is blank"
print(f"report.html: {c.tables} sortable tables ({c.headers} headers), {c.embedded} charts embedded, "
      f"the roofline with {svg_dom.circles} points named on hover, "
      f"nothing from outside; screenshot {pixels.shape[1]}x{pixels.shape[0]}")
PY
