// Serving the race as a web page with live updates (cpp-httplib), or saying why it cannot.
#include "demo/demo_server.h"

#include <stdexcept>

#ifdef FLOPSLAB_HAVE_HTTPLIB
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

namespace flopslab::bench {

// Bars, numbers and a speed-up chart on a canvas; every rate also sits in a data-rate
// attribute, so a test can compare what the page shows with the race's JSON.
const std::string& race_page() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flopslab demo</title>
<style>
 body { background: #111; color: #eee; font-family: sans-serif; margin: 2em; }
 h1 { font-size: 2.2em; margin: 0 0 0.2em 0; }
 #sub { font-size: 1.2em; color: #aaa; margin-bottom: 1.5em; }
 .lane { margin: 0.8em 0; }
 .name { font-size: 1.5em; }
 .track { background: #333; height: 2.2em; width: 100%; margin-top: 0.2em; }
 .bar { background: #3c3; height: 100%; width: 0; transition: width 0.1s linear; }
 .rate { font-size: 1.8em; font-weight: bold; }
 .absent { color: #888; font-size: 1.1em; }
 #summary { font-size: 1.4em; margin-top: 1.5em; white-space: pre-wrap; }
 canvas { background: #1b1b1b; margin-top: 1em; }
</style></head>
<body>
<h1 id="title">flopslab demo</h1>
<div id="sub">waiting for the race…</div>
<div id="lanes"></div>
<canvas id="chart" width="900" height="260"></canvas>
<div id="summary"></div>
<script>
"use strict";
const lanes = document.getElementById("lanes");
const chart = document.getElementById("chart");
function fmt(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
function draw(frame) {
  document.getElementById("title").textContent = "flopslab demo: " + frame.title;
  document.getElementById("sub").textContent = "lesson " + frame.lesson + " \u00b7 " + frame.elapsed.toFixed(1) + " s";
  let best = 0, slowest = 0;
  for (const l of frame.lanes) if (!l.absent && l.rate > 0) {
    best = Math.max(best, l.rate);
    slowest = slowest === 0 ? l.rate : Math.min(slowest, l.rate);
  }
  lanes.textContent = "";
  frame.lanes.forEach((l, i) => {
    const div = document.createElement("div");
    div.className = "lane";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = l.name + (l.absent ? "" : " \u2014 " + l.state);
    div.appendChild(name);
    if (l.absent) {
      const a = document.createElement("div");
      a.className = "absent";
      a.textContent = "absent: " + l.absent;
      div.appendChild(a);
    } else {
      const track = document.createElement("div"), bar = document.createElement("div");
      track.className = "track"; bar.className = "bar";
      bar.style.width = (best > 0 ? 100 * l.rate / best : 0) + "%";
      track.appendChild(bar); div.appendChild(track);
      const rate = document.createElement("div");
      rate.className = "rate"; rate.id = "rate-" + i; rate.dataset.rate = String(l.rate);
      rate.textContent = fmt(l.rate) + " " + frame.unit;
      div.appendChild(rate);
    }
    lanes.appendChild(div);
  });
  // The speed-up chart: each contestant's rate over the slowest one's.
  const g = chart.getContext("2d");
  g.clearRect(0, 0, chart.width, chart.height);
  const raced = frame.lanes.filter(l => !l.absent && l.rate > 0);
  const top = Math.max(1, ...raced.map(l => l.rate / slowest));
  const w = chart.width / Math.max(1, raced.length);
  g.font = "16px sans-serif";
  raced.forEach((l, k) => {
    const s = l.rate / slowest, h = (chart.height - 50) * s / top;
    g.fillStyle = "#39f"; g.fillRect(k * w + 10, chart.height - 30 - h, w - 20, h);
    g.fillStyle = "#eee"; g.fillText(s.toFixed(1) + "x", k * w + 12, chart.height - 36 - h);
    g.fillText(l.name.slice(0, 22), k * w + 12, chart.height - 10);
  });
}
const events = new EventSource("/events");
let last = {title: "", lesson: "", unit: "", elapsed: 0, lanes: []};
events.onmessage = e => { last = JSON.parse(e.data); draw(last); };
events.addEventListener("done", e => {
  const r = JSON.parse(e.data);
  // The final, checked rates replace the live ones.
  draw(Object.assign({}, last, {unit: r.unit, lanes: r.lanes.map(l =>
    ({name: l.name, absent: l.absent, rate: l.rate || 0, state: l.check === "ok" ? "done, checked" : "FAILED"}))}));
  const s = document.getElementById("summary");
  s.id = "summary"; s.dataset.winner = r.winner || "";
  s.textContent = r.all_checked ? (r.winner ? "Winner: " + r.winner + ", " + r.speedup_over_slowest.toFixed(1) +
    "x the slowest" : "") : "A contestant's result was wrong: no winner";
  document.body.dataset.finished = "yes";
  events.close();
});
</script></body></html>
)HTML";
  return page;
}

#ifdef FLOPSLAB_HAVE_HTTPLIB

struct RaceServer::State {
  httplib::Server server;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable changed;
  std::string frame = "{\"title\": \"waiting\", \"lesson\": \"\", \"unit\": \"\", \"elapsed\": 0, \"lanes\": []}";
  std::string result;  // empty until the race is over
  long version = 0;
  bool stopping = false;
};

RaceServer::RaceServer(int port) : s_(std::make_unique<State>()), port_(port) {
  State& s = *s_;
  s.server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(race_page(), "text/html"); });
  s.server.Get("/result.json", [&s](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(s.mutex);
    if (s.result.empty()) {
      res.status = 404;
      res.set_content("the race is still running\n", "text/plain");
    } else {
      res.set_content(s.result, "application/json");
    }
  });
  s.server.Get("/events", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    auto seen = std::make_shared<long>(-1);
    res.set_chunked_content_provider("text/event-stream", [&s, seen](std::size_t, httplib::DataSink& sink) {
      std::unique_lock lock(s.mutex);
      s.changed.wait_for(lock, std::chrono::milliseconds(500),
                         [&] { return s.version != *seen || s.stopping || !s.result.empty(); });
      if (s.stopping) return false;
      std::string message;
      if (s.version != *seen) message += "data: " + s.frame + "\n\n", *seen = s.version;
      const bool over = !s.result.empty();
      if (over) message += "event: done\ndata: " + s.result + "\n\n";
      lock.unlock();
      if (!message.empty() && !sink.write(message.data(), message.size())) return false;
      if (over) sink.done();
      return true;
    });
  });
  if (!s.server.bind_to_port("0.0.0.0", port))
    throw std::runtime_error("port " + std::to_string(port) + " is in use or cannot be opened (ports below 1024 need root)");
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
}

RaceServer::~RaceServer() {
  {
    std::lock_guard lock(s_->mutex);
    s_->stopping = true;
  }
  s_->changed.notify_all();
  s_->server.stop();
  if (s_->thread.joinable()) s_->thread.join();
}

void RaceServer::publish(const Json& frame) {
  {
    std::lock_guard lock(s_->mutex);
    s_->frame = frame.dump();
    ++s_->version;
  }
  s_->changed.notify_all();
}

void RaceServer::finish(const Json& result) {
  {
    std::lock_guard lock(s_->mutex);
    s_->result = result.dump();
  }
  s_->changed.notify_all();
}

#else

struct RaceServer::State {};
RaceServer::RaceServer(int port) : port_(port) {
  throw std::runtime_error("this build has no cpp-httplib (sudo apt-get install libcpp-httplib-dev, then rebuild)");
}
RaceServer::~RaceServer() = default;
void RaceServer::publish(const Json&) {}
void RaceServer::finish(const Json&) {}

#endif

}  // namespace flopslab::bench
