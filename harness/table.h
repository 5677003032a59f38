// A table printed two ways: aligned text for the terminal, Markdown for report.md.
#pragma once

#include <string>
#include <vector>

namespace flopslab::bench {

class Table {
 public:
  enum class Align { left, right };
  struct Column {
    std::string title;
    Align align = Align::right;
  };

  explicit Table(std::vector<Column> columns);
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  std::string text() const;      // columns padded to their widest cell
  std::string markdown() const;  // a GitHub-flavoured Markdown table

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace flopslab::bench
