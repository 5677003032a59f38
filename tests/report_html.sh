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
dom = open(f"{scratch}/report-dom.html").read()
assert dom.count("<table") == c.tables, "the browser's page lost tables"
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as image
pixels = image.imread(f"{scratch}/report.png")
assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, f"screenshot shape {pixels.shape}"
assert float(pixels[..., :3].std()) > 0.02, "the screenshot is blank"
print(f"report.html: {c.tables} sortable tables ({c.headers} headers), {c.embedded} charts embedded, "
      f"nothing from outside; screenshot {pixels.shape[1]}x{pixels.shape[0]}")
PY
