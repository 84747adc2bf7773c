// A self-contained HTML report: one file with inline CSS, images embedded
// as base64 data: URIs, no scripts and no external resources, so that it
// can be mailed, archived or opened offline and looks the same everywhere.
//
//   Report r("CSC-CTRL on MNIST");
//   r.subtitle("run runs/ctrl-mnist").meta("steps", "600");
//   r.section("Results").cards({{"PSNR", "18.4 dB", "paper: 17.7 dB"}});
//   r.table(t).figure(render_plot(curves), "Training curves");
//   r.details("Resolved configuration", toml_text);
//   r.write("runs/ctrl-mnist/report.html");
//
// All user text is HTML-escaped; nothing passed in is interpreted as markup.
#pragma once

#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sparseloop {

class Canvas;

/// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

/// A number for a table or card: `decimals` ≥ 0 fixed decimals; < 0: whole
/// numbers without decimals, others with up to 4 significant digits
/// (scientific outside [1e-3, 1e6)). NaN → "—", ±∞ → "∞" / "−∞".
std::string format_number(double value, int decimals = -1);

struct MetricCard {
  std::string name;       ///< e.g. "PSNR"
  std::string value;      ///< e.g. "18.4 dB" (see format_number)
  std::string reference;  ///< optional, e.g. "paper: 17.7 dB"
  std::string note;       ///< optional small print, e.g. "σ = 1, λ = 0.02"
};

/// A table cell: text, or a number formatted by the table (and eligible for
/// the best-of-column highlight).
struct TableCell {
  TableCell(const char* s) : text(s) {}             // NOLINT: implicit by design
  TableCell(std::string s) : text(std::move(s)) {}  // NOLINT
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  TableCell(T value) : number(static_cast<double>(value)), is_number(true) {}  // NOLINT

  std::string text;
  double number = std::numeric_limits<double>::quiet_NaN();
  bool is_number = false;
};

enum class Best { none, max, min };

struct Table {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<TableCell>> rows;
  std::vector<Best> best;     ///< per column: bold the largest / smallest number
  std::vector<int> decimals;  ///< per column; missing or < 0: default_decimals
  int default_decimals = -1;  ///< see format_number
};

class Report {
 public:
  explicit Report(std::string title);

  /// One line under the title (e.g. what was run, when).
  Report& subtitle(const std::string& text);
  /// A "key: value" item in the metadata line under the title.
  Report& meta(const std::string& key, const std::string& value);
  /// Starts a section with a heading; a contents list appears with ≥ 3 sections.
  Report& section(const std::string& heading);
  /// A paragraph of plain text (blank lines inside start new paragraphs).
  Report& paragraph(const std::string& text);
  /// A row of key-metric cards.
  Report& cards(const std::vector<MetricCard>& cards);
  Report& table(const Table& table);
  /// A PNG image (bytes) with an optional caption; InputError if not a PNG.
  Report& figure_png(const std::string& png_bytes, const std::string& caption = "");
  /// A PNG file, embedded; InputError naming the file if missing or not a PNG.
  Report& figure_file(const std::string& path, const std::string& caption = "");
  /// A rendered canvas (e.g. render_plot(...)), embedded as PNG.
  Report& figure(const Canvas& canvas, const std::string& caption = "");
  /// A collapsible block of preformatted text (configuration, raw JSON).
  Report& details(const std::string& summary, const std::string& text, bool open = false);

  /// The complete document.
  std::string html() const;
  /// Writes html() to `path` atomically.
  void write(const std::string& path) const;

 private:
  std::string title_, subtitle_;
  std::vector<std::pair<std::string, std::string>> meta_;
  std::vector<std::string> sections_;
  std::string body_;
  bool in_section_ = false;
};

}  // namespace sparseloop
