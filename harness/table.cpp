// Printing a Table as aligned text or as Markdown.
#include "harness/table.h"

#include <algorithm>
#include <stdexcept>

namespace flopslab::bench {
namespace {
// Display width of a UTF-8 string: count the bytes that start a code point.
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}
}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) throw std::logic_error("table row has the wrong number of cells");
  rows_.push_back(std::move(cells));
}

std::string Table::text() const {
  std::vector<std::size_t> widths;
  for (const Column& c : columns_) widths.push_back(width(c.title));
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width(row[i]));

  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::string pad(widths[i] - width(cells[i]), ' ');
      if (i > 0) out += "  ";
      out += columns_[i].align == Align::right ? pad + cells[i] : cells[i] + pad;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::vector<std::string> titles;
  for (const Column& c : columns_) titles.push_back(c.title);
  std::string out = line(titles);
  std::vector<std::string> rule;
  for (std::size_t w : widths) rule.emplace_back(w, '-');
  out += line(rule);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string Table::markdown() const {
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  auto cells = [&](const std::vector<std::string>& values) {
    std::string line = "|";
    for (const std::string& v : values) line.append(" ").append(escape(v)).append(" |");
    return line.append("\n");
  };
  std::vector<std::string> titles, rule;
  for (const Column& c : columns_) {
    titles.push_back(c.title);
    rule.emplace_back(c.align == Align::right ? "---:" : ":---");
  }
  std::string out = cells(titles) + cells(rule);
  for (const auto& row : rows_) out += cells(row);
  return out;
}

}  // namespace flopslab::bench
