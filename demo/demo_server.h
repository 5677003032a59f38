// The classroom race as a web page (`flopslab demo --serve PORT`): one self-contained page
// (no external scripts, styles or fonts, for rooms without internet) with live bars and a
// speed-up chart, fed by server-sent events (/events). /result.json holds the final results
// once the race is over. Built on Debian's cpp-httplib; without it, constructing the server
// throws, naming the missing package.
#pragma once

#include <memory>
#include <string>

#include "harness/json.h"

namespace flopslab::bench {

class RaceServer {
 public:
  // Listens on every interface at `port`; throws std::runtime_error("port N ...") when it
  // cannot (in use, or privileged).
  explicit RaceServer(int port);
  ~RaceServer();
  RaceServer(const RaceServer&) = delete;
  RaceServer& operator=(const RaceServer&) = delete;
  void publish(const Json& frame);   // the race so far: {"title", "unit", "elapsed", "lanes": [...]}
  void finish(const Json& result);   // bench::race_json of the finished race
  int port() const { return port_; }

 private:
  struct State;
  std::unique_ptr<State> s_;
  int port_;
};

// The page (demo/race_page.html, compiled in by demo/CMakeLists.txt); it references nothing
// outside this server.
const std::string& race_page();

}  // namespace flopslab::bench
