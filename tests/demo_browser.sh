#!/usr/bin/env bash
# The classroom race's web page in a real browser: Debian's chromium, headless, reading the
# page a `flopslab demo --serve` run serves. Checks that the page needs nothing from outside
# this server, that its screenshot is not blank, and that the numbers it shows (its
# data-rate attributes and winner) are the race's JSON, and that it draws the contestants on the
# roofline.
#   tests/demo_browser.sh FLOPSLAB_EXE SCRATCH_DIR
set -euo pipefail
exe=$1 scratch=$2
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "no chromium: scripts/setup installs Debian's chromium package"; exit 1; }
mkdir -p "$scratch"
# Debian's interpreter: it has python3-matplotlib (for the screenshot), as scripts/plot uses.
python=/usr/bin/python3
[[ -x $python ]] || python=python3
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -f "$scratch/web.json" "$scratch/web.png" "$scratch/web-dom.html"
"$exe" demo --quick --scene cores --serve "$port" --linger 60 --json "$scratch/web.json" >"$scratch/web.out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do [[ -s $scratch/web.json ]] && break; sleep 0.1; done
[[ -s $scratch/web.json ]] || { echo "the race did not finish:"; cat "$scratch/web.out"; exit 1; }
url="http://127.0.0.1:$port/"
flags=(--headless=new --no-sandbox --disable-gpu --no-first-run --disable-extensions --virtual-time-budget=4000)
"$browser" "${flags[@]}" --dump-dom "$url" >"$scratch/web-dom.html" 2>/dev/null
"$browser" "${flags[@]}" --window-size=1000,900 --screenshot="$scratch/web.png" "$url" >/dev/null 2>&1
"$python" - "$url" "$scratch" <<'PY'
import json, re, sys, urllib.request
url, scratch = sys.argv[1], sys.argv[2]
page = urllib.request.urlopen(url).read().decode()
outside = re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//|url\(\s*["\']?(?:https?:)?//|https?://', page)
assert not outside, f"the page references something outside the server: {outside}"
dom = open(f"{scratch}/web-dom.html").read()
race = json.load(open(f"{scratch}/web.json"))
assert 'data-finished="yes"' in dom, "the page never received the end of the race"
shown = {int(i): float(v) for i, v in re.findall(r'id="rate-(\d+)" data-rate="([^"]+)"', dom)}
lanes = [l for l in race["lanes"] if "absent" not in l]
assert len(shown) == len(lanes), f"the page shows {len(shown)} rates, the race has {len(lanes)}"
for i, lane in enumerate(race["lanes"]):
    if "absent" in lane:
        continue
    got = shown[i]
    assert abs(got - lane["rate"]) <= 1e-9 * max(1.0, abs(lane["rate"])), f"{lane['name']}: page {got}, JSON {lane['rate']}"
# The contestants on the roofline: the server's SVG in the page, each placed point named there.
roof = race.get("roofline")
assert roof and roof["points"], "the race's JSON has no roofline"
drawn = re.search(r'<div id="roofline"[^>]*>(.*)</svg>', dom, re.S)
assert drawn and "<svg" in drawn.group(1), "the page did not draw the roofline"
for p in roof["points"]:
    assert p["name"] in drawn.group(1), f"{p['name']} is not on the page's roofline"
winner = re.search(r'data-winner="([^"]*)"', dom)
assert winner and winner.group(1) == race["winner"], f"winner: page {winner and winner.group(1)}, JSON {race['winner']}"
import matplotlib
matplotlib.use("Agg")
import matplotlib.image as image
pixels = image.imread(f"{scratch}/web.png")
assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, f"screenshot shape {pixels.shape}"
assert float(pixels[..., :3].std()) > 0.02, "the screenshot is blank"
print(f"the page showed {len(shown)} rates, the winner '{race['winner']}' and {len(roof['points'])} points on the "
      f"roofline as in the JSON; screenshot {pixels.shape[1]}x{pixels.shape[0]}")
PY
