// report.html: the report as one file that opens offline. Its charts are embedded as data
// URIs, and its tables sort when a column's header is clicked, by a short script inside the
// page. Made from report.md, whose Markdown flopslab writes itself: headings, paragraphs,
// lists, quotes, code blocks, pipe tables, images, `code`, **bold** and links.
#pragma once

#include <string>

namespace flopslab::bench {

// The page for `markdown`; images named in it are read from `dir` and embedded (an image
// that is missing is replaced by its alt text; an .svg, flopslab's own, goes in inline).
std::string markdown_to_html(const std::string& markdown, const std::string& dir, const std::string& title);

// RFC 4648 base64.
std::string base64(const std::string& bytes);

}  // namespace flopslab::bench
