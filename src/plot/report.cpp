#include "sparseloop/plot/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sparseloop/plot/base64.h"
#include "sparseloop/plot/canvas.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {
namespace {

// Inline style sheet: system fonts, a readable measure, tables with tabular
// figures, images that shrink with the window. No web fonts or external
// files, so the report renders identically offline.
const char* kStyle = R"CSS(
:root { --fg: #1f2328; --muted: #59636e; --line: #d8dee4; --soft: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fff; color: var(--fg);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
        "Noto Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 36px 24px 56px; }
header h1 { font-size: 28px; line-height: 1.25; margin: 0 0 6px; font-weight: 650;
  letter-spacing: -0.01em; }
.subtitle { color: var(--muted); margin: 0 0 10px; font-size: 15px; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 8px; padding: 0;
  list-style: none; color: var(--muted); font-size: 13px; }
.meta b { color: var(--fg); font-weight: 600; }
nav.toc { margin: 18px 0 0; font-size: 14px; }
nav.toc ol { margin: 4px 0 0; padding-left: 20px; columns: 2 220px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
h2 { font-size: 20px; line-height: 1.3; margin: 40px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); font-weight: 620; }
p { margin: 8px 0 12px; max-width: 78ch; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: 12px; margin: 16px 0 20px; }
.card { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; }
.card .name { font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--muted); }
.card .value { font-size: 26px; font-weight: 650; margin-top: 2px;
  font-variant-numeric: tabular-nums; }
.card .ref { font-size: 13px; color: var(--muted); margin-top: 2px; }
.card .note { font-size: 12px; color: var(--muted); margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 12px 0 22px; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 13px;
  padding: 0 0 6px; }
th, td { padding: 6px 14px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { font-weight: 600; border-bottom: 2px solid #aab4be; white-space: nowrap; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.best { font-weight: 700; }
figure { margin: 18px 0 26px; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; max-width: 78ch; }
details { margin: 12px 0; border: 1px solid var(--line); border-radius: 6px;
  background: var(--soft); }
summary { cursor: pointer; padding: 8px 12px; font-weight: 600; }
details pre { margin: 0; padding: 10px 12px; border-top: 1px solid var(--line);
  background: #fff; border-radius: 0 0 6px 6px; overflow-x: auto;
  font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { margin-top: 48px; padding-top: 12px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 12px; }
@media print { main { max-width: none; padding: 0; } details { break-inside: avoid; }
  figure { break-inside: avoid; } }
)CSS";

bool is_png(const std::string& bytes) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  return bytes.size() >= 24 && bytes.compare(0, 8, kSignature, 8) == 0;
}

// Width and height from the IHDR chunk (big-endian at offsets 16 and 20),
// so the page reserves the figure's space before it decodes.
std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

// Paragraph text: escaped, blank lines start a new paragraph, single line
// breaks are kept.
std::string paragraphs(const std::string& text) {
  std::string out, current;
  auto flush = [&]() {
    while (!current.empty() && current.back() == '\n') current.pop_back();
    if (!current.empty()) {
      std::string html;
      for (char c : html_escape(current))
        html += c == '\n' ? std::string("<br>") : std::string(1, c);
      out += "<p>" + html + "</p>\n";
    }
    current.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    const size_t nl = text.find('\n', i);
    const std::string line = text.substr(i, nl == std::string::npos ? std::string::npos : nl - i);
    i = nl == std::string::npos ? text.size() : nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      flush();
    } else {
      current += line + "\n";
    }
  }
  flush();
  return out;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string format_number(double value, int decimals) {
  if (std::isnan(value)) return "\u2014";
  if (std::isinf(value)) return value > 0 ? "\u221E" : "\u2212\u221E";
  char buf[64];
  if (decimals >= 0) {
    std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 15), value);
  } else if (value == std::round(value) && std::abs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else if (std::abs(value) >= 1e-3 && std::abs(value) < 1e6) {
    // 4 significant digits in fixed notation, trailing zeros dropped: 17.09, 0.3671, 0.0137.
    const int magnitude = static_cast<int>(std::floor(std::log10(std::abs(value))));
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, 3 - magnitude), value);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s == "-0" ? "0" : s;
  } else {
    std::snprintf(buf, sizeof buf, "%.3e", value);
  }
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s = s.substr(1);  // no −0
  return s;
}

Report::Report(std::string title) : title_(std::move(title)) {}

Report& Report::subtitle(const std::string& text) {
  subtitle_ = text;
  return *this;
}

Report& Report::meta(const std::string& key, const std::string& value) {
  meta_.emplace_back(key, value);
  return *this;
}

Report& Report::section(const std::string& heading) {
  if (in_section_) body_ += "</section>\n";
  sections_.push_back(heading);
  body_ += "<section id=\"section-" + std::to_string(sections_.size()) + "\">\n<h2>" +
           html_escape(heading) + "</h2>\n";
  in_section_ = true;
  return *this;
}

Report& Report::paragraph(const std::string& text) {
  body_ += paragraphs(text);
  return *this;
}

Report& Report::cards(const std::vector<MetricCard>& cards) {
  if (cards.empty()) return *this;
  body_ += "<div class=\"cards\">\n";
  for (const auto& c : cards) {
    body_ += "<div class=\"card\"><div class=\"name\">" + html_escape(c.name) +
             "</div><div class=\"value\">" + html_escape(c.value) + "</div>";
    if (!c.reference.empty()) body_ += "<div class=\"ref\">" + html_escape(c.reference) + "</div>";
    if (!c.note.empty()) body_ += "<div class=\"note\">" + html_escape(c.note) + "</div>";
    body_ += "</div>\n";
  }
  body_ += "</div>\n";
  return *this;
}

Report& Report::table(const Table& t) {
  size_t ncols = t.header.size();
  for (const auto& row : t.rows) ncols = std::max(ncols, row.size());
  // The winning value of each highlighted column.
  std::vector<double> best(ncols, std::numeric_limits<double>::quiet_NaN());
  for (size_t j = 0; j < ncols && j < t.best.size(); ++j) {
    if (t.best[j] == Best::none) continue;
    for (const auto& row : t.rows) {
      if (j >= row.size() || !row[j].is_number || !std::isfinite(row[j].number)) continue;
      const double v = row[j].number;
      if (std::isnan(best[j]) || (t.best[j] == Best::max ? v > best[j] : v < best[j])) best[j] = v;
    }
  }
  auto decimals_of = [&](size_t j) {
    return j < t.decimals.size() && t.decimals[j] >= 0 ? t.decimals[j] : t.default_decimals;
  };
  // A column is numeric (right-aligned) when all its non-empty cells are numbers.
  std::vector<bool> numeric(ncols, true);
  for (size_t j = 0; j < ncols; ++j) {
    bool any = false;
    for (const auto& row : t.rows) {
      if (j >= row.size() || (!row[j].is_number && row[j].text.empty())) continue;
      any = true;
      if (!row[j].is_number) numeric[j] = false;
    }
    if (!any) numeric[j] = false;
  }
  std::string h = "<div class=\"table-wrap\"><table>\n";
  if (!t.caption.empty()) h += "<caption>" + html_escape(t.caption) + "</caption>\n";
  if (!t.header.empty()) {
    h += "<thead><tr>";
    for (size_t j = 0; j < t.header.size(); ++j)
      h += std::string(numeric[j] ? "<th class=\"num\">" : "<th>") + html_escape(t.header[j]) +
           "</th>";
    h += "</tr></thead>\n";
  }
  h += "<tbody>\n";
  for (const auto& row : t.rows) {
    h += "<tr>";
    for (size_t j = 0; j < ncols; ++j) {
      if (j >= row.size()) {
        h += "<td></td>";
        continue;
      }
      const auto& cell = row[j];
      if (!cell.is_number) {
        h += "<td>" + html_escape(cell.text) + "</td>";
        continue;
      }
      const bool is_best = !std::isnan(best[j]) && cell.number == best[j];
      h += std::string("<td class=\"num") + (is_best ? " best" : "") + "\">" +
           html_escape(format_number(cell.number, decimals_of(j))) + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table></div>\n";
  body_ += h;
  return *this;
}

Report& Report::figure_png(const std::string& png_bytes, const std::string& caption) {
  if (!is_png(png_bytes))
    throw InputError("report figure '" + caption + "': data is not a PNG image");
  const auto [w, h] = png_size(png_bytes);
  body_ += "<figure><img src=\"data:image/png;base64," + base64_encode(png_bytes) + "\" width=\"" +
           std::to_string(w) + "\" height=\"" + std::to_string(h) + "\" alt=\"" +
           html_escape(caption) + "\">";
  if (!caption.empty()) body_ += "<figcaption>" + html_escape(caption) + "</figcaption>";
  body_ += "</figure>\n";
  return *this;
}

Report& Report::figure_file(const std::string& path, const std::string& caption) {
  const std::string bytes = read_file(path);
  if (!is_png(bytes)) throw InputError(path + ": not a PNG image (cannot embed it in the report)");
  return figure_png(bytes, caption);
}

Report& Report::figure(const Canvas& canvas, const std::string& caption) {
  return figure_png(canvas.encode_png(), caption);
}

Report& Report::details(const std::string& summary, const std::string& text, bool open) {
  body_ += std::string(open ? "<details open>" : "<details>") + "<summary>" + html_escape(summary) +
           "</summary><pre>" + html_escape(text) + "</pre></details>\n";
  return *this;
}

std::string Report::html() const {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<meta name=\"generator\" content=\"sparseloop\">\n";
  h += "<title>" + html_escape(title_) + "</title>\n<style>" + kStyle + "</style>\n</head>\n";
  h += "<body>\n<main>\n<header>\n<h1>" + html_escape(title_) + "</h1>\n";
  if (!subtitle_.empty()) h += "<p class=\"subtitle\">" + html_escape(subtitle_) + "</p>\n";
  if (!meta_.empty()) {
    h += "<ul class=\"meta\">";
    for (const auto& [k, v] : meta_)
      h += "<li><b>" + html_escape(k) + "</b> " + html_escape(v) + "</li>";
    h += "</ul>\n";
  }
  if (sections_.size() >= 3) {
    h += "<nav class=\"toc\">Contents<ol>";
    for (size_t i = 0; i < sections_.size(); ++i)
      h += "<li><a href=\"#section-" + std::to_string(i + 1) + "\">" + html_escape(sections_[i]) +
           "</a></li>";
    h += "</ol></nav>\n";
  }
  h += "</header>\n" + body_;
  if (in_section_) h += "</section>\n";
  h += "<footer>Generated by sparseloop.</footer>\n</main>\n</body>\n</html>\n";
  return h;
}

void Report::write(const std::string& path) const { write_file_atomic(path, html()); }

}  // namespace sparseloop
