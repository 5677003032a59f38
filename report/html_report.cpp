// Turning report.md, its charts and its JSON into one offline report.html.
#include "report/html_report.h"

#include <filesystem>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "harness/files.h"

namespace flopslab::bench {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// `code`, **bold**, [text](url) and ![alt](file.png) inside one line of text.
std::string inline_html(const std::string& s, const std::string& dir) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '`') {
      const std::size_t end = s.find('`', i + 1);
      if (end != std::string::npos) {
        out += "<code>" + escape(s.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    }
    if (s.compare(i, 2, "**") == 0) {
      const std::size_t end = s.find("**", i + 2);
      if (end != std::string::npos) {
        out += "<strong>" + inline_html(s.substr(i + 2, end - i - 2), dir) + "</strong>";
        i = end + 2;
        continue;
      }
    }
    const bool image = s.compare(i, 2, "![") == 0;
    if (image || s[i] == '[') {
      const std::size_t close = s.find("](", i), end = close == std::string::npos ? close : s.find(')', close);
      if (close != std::string::npos && end != std::string::npos) {
        const std::string text = s.substr(i + (image ? 2 : 1), close - i - (image ? 2 : 1)), target = s.substr(close + 2, end - close - 2);
        if (image) {
          const std::string path = dir + "/" + target;
          const bool svg = target.size() > 4 && target.compare(target.size() - 4, 4, ".svg") == 0;
          if (!std::filesystem::exists(path))
            out += fmt::format("<em>[chart not drawn: {}]</em>", escape(text));
          else if (svg)  // flopslab's own SVG (report/roofline_svg.h), inline so that its hover titles work
            out += "<div class=\"svg-chart\">" + read_file(path) + "</div>";
          else
            out += fmt::format("<img alt=\"{}\" src=\"data:image/png;base64,{}\">", escape(text), base64(read_file(path)));
        } else if (target.rfind("http", 0) == 0) {  // plain text, so that the page links nowhere outside
          out += escape(text) + " (" + escape(target) + ")";
        } else {
          out += fmt::format("<a href=\"{}\">{}</a>", escape(target), escape(text));
        }
        i = end + 1;
        continue;
      }
    }
    out += escape(std::string(1, s[i]));
    ++i;
  }
  return out;
}

// A pipe table's second line: "| ---: | :--- |".
bool is_rule(const std::string& line) {
  return line.rfind('|', 0) == 0 && line.find('-') != std::string::npos &&
         line.find_first_not_of("|-: ") == std::string::npos;
}

std::vector<std::string> table_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {  // line starts with '|'
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (line[i] == '|') {
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
      while (!cell.empty() && cell.back() == ' ') cell.pop_back();
      cells.push_back(cell);
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return cells;
}

// Clicking a header sorts its table by that column: numbers by value (units, %, x ignored),
// other cells as text; clicking again reverses.
constexpr const char* kSortScript = R"JS(
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var down = th.getAttribute("data-order") !== "up";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", down ? "up" : "down");
      function key(row) {
        var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
        var number = parseFloat(text.replace(/[^0-9eE+.\-]/g, ""));
        return isNaN(number) || !/^[-+±]?[0-9.]/.test(text) ? text.toLowerCase() : number;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
)JS";

constexpr const char* kStyle = R"CSS(
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #eef; cursor: pointer; user-select: none; }
th[data-order="up"]::after { content: " \25B2"; } th[data-order="down"]::after { content: " \25BC"; }
td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f3f3f3; padding: 0 0.2em; }
img { max-width: 100%; display: block; margin: 1em 0; }
.svg-chart { overflow-x: auto; margin: 1em 0; }
blockquote { border-left: 4px solid #ccd; margin: 1em 0; padding: 0 1em; color: #555; }
)CSS";

}  // namespace

std::string base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const unsigned b0 = static_cast<unsigned char>(bytes[i]);
    const unsigned b1 = i + 1 < bytes.size() ? static_cast<unsigned char>(bytes[i + 1]) : 0;
    const unsigned b2 = i + 2 < bytes.size() ? static_cast<unsigned char>(bytes[i + 2]) : 0;
    const unsigned n = b0 << 16 | b1 << 8 | b2;
    out += table[n >> 18 & 63];
    out += table[n >> 12 & 63];
    out += i + 1 < bytes.size() ? table[n >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? table[n & 63] : '=';
  }
  return out;
}

std::string markdown_to_html(const std::string& markdown, const std::string& dir, const std::string& title) {
  std::istringstream in(markdown);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string body, paragraph;
  auto flush = [&] {
    if (!paragraph.empty()) body += "<p>" + inline_html(paragraph, dir) + "</p>\n";
    paragraph.clear();
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("```", 0) == 0) {  // a code block, verbatim
      flush();
      body += "<pre>";
      for (++i; i < lines.size() && lines[i].rfind("```", 0) != 0; ++i) body += escape(lines[i]) + "\n";
      body += "</pre>\n";
    } else if (line.rfind('#', 0) == 0) {
      flush();
      std::size_t level = 0;
      while (level < line.size() && line[level] == '#') ++level;
      body += fmt::format("<h{0}>{1}</h{0}>\n", std::min<std::size_t>(level, 6), inline_html(line.substr(std::min(level + 1, line.size())), dir));
    } else if (line.rfind('|', 0) == 0 && i + 1 < lines.size() && is_rule(lines[i + 1])) {
      flush();
      body += "<table class=\"sortable\"><thead><tr>";
      for (const std::string& c : table_cells(line)) body += "<th>" + inline_html(c, dir) + "</th>";
      body += "</tr></thead><tbody>\n";
      for (i += 2; i < lines.size() && lines[i].rfind('|', 0) == 0; ++i) {
        body += "<tr>";
        for (const std::string& c : table_cells(lines[i])) body += "<td>" + inline_html(c, dir) + "</td>";
        body += "</tr>\n";
      }
      --i;
      body += "</tbody></table>\n";
    } else if (line.rfind("- ", 0) == 0) {
      flush();
      body += "<ul>\n";
      for (; i < lines.size() && lines[i].rfind("- ", 0) == 0; ++i) body += "<li>" + inline_html(lines[i].substr(2), dir) + "</li>\n";
      --i;
      body += "</ul>\n";
    } else if (line.rfind("> ", 0) == 0) {
      flush();
      body += "<blockquote>" + inline_html(line.substr(2), dir) + "</blockquote>\n";
    } else if (line.empty()) {
      flush();
    } else {
      paragraph += (paragraph.empty() ? "" : " ") + line;
    }
  }
  flush();
  return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style>"
                     "</head>\n<body>\n{}<script>{}</script>\n</body></html>\n",
                     escape(title), kStyle, body, kSortScript);
}

}  // namespace flopslab::bench
