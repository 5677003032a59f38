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
