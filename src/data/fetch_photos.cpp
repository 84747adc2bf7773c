// The natural photographs shipped by Debian's scikit-image and scikit-learn
// packages, for patch-based training (VDL's natural-image patches).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include <stb/stb_image.h>

#include "sparseloop/data/fetch.h"
#include "sparseloop/io/stb_guard.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/process.h"
#include "sparseloop/util/temp_dir.h"

namespace sparseloop {

void note(const FetchLog& log, const std::string& line) {
  if (log)
    log(line);
  else
    std::cerr << line << std::endl;
}

namespace {
namespace fs = std::filesystem;


// True when stb_image can read the header of `bytes` (a cheap sanity check
// that a copied file is an image, without decoding it).
bool looks_like_image(const std::string& bytes) {
  int w = 0, h = 0, c = 0;
  return bytes.size() < static_cast<size_t>(INT32_MAX) && stb_input_problem(bytes).empty() &&
         stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                               static_cast<int>(bytes.size()), &w, &h, &c) == 1 &&
         w >= 64 && h >= 64;
}

}  // namespace

// Chosen from skimage/data/ of python3-skimage 0.19: the photographs of
// real scenes and materials. Left out: page.png (a scanned printed page)
// and text.png (handwriting on a board): document statistics, not scenes;
// hubble_deep_field.jpg (mostly black sky), retina.jpg and
// microaneurysms.png (fundus images with a black surround), cell.png and
// ihc.png (microscopy); motorcycle_right.png (the stereo twin of
// motorcycle_left.png: near-duplicate patches); clock_motion.png (synthetic
// blur); horse, logo, color, phantom, checker/chessboard, palette, block
// and the other small test images (drawings or synthetic), and
// truncated.jpg (deliberately corrupt).
const std::vector<PhotoChoice>& embedded_photos() {
  static const std::vector<PhotoChoice> kPhotos = {
      {"python3-skimage", "skimage/data", "astronaut.png"},
      {"python3-skimage", "skimage/data", "brick.png"},
      {"python3-skimage", "skimage/data", "camera.png"},
      {"python3-skimage", "skimage/data", "chelsea.png"},
      {"python3-skimage", "skimage/data", "coffee.png"},
      {"python3-skimage", "skimage/data", "coins.png"},
      {"python3-skimage", "skimage/data", "grass.png"},
      {"python3-skimage", "skimage/data", "gravel.png"},
      {"python3-skimage", "skimage/data", "moon.png"},
      {"python3-skimage", "skimage/data", "motorcycle_left.png"},
      {"python3-skimage", "skimage/data", "rocket.jpg"},
      {"python3-sklearn", "sklearn/datasets/images", "china.jpg"},
      {"python3-sklearn", "sklearn/datasets/images", "flower.jpg"},
  };
  return kPhotos;
}

PhotoFetchResult fetch_photographs(const std::string& out_root, bool force, const FetchLog& log) {
  PhotoFetchResult r;
  r.dir = out_root + "/photos";
  const auto& photos = embedded_photos();
  if (!force && file_exists(r.dir + "/SOURCE.txt")) {
    bool all = true;
    for (const auto& p : photos) {
      if (file_exists(r.dir + "/" + p.file))
        r.files.push_back(p.file);
      else
        all = false;
    }
    if (all) {
      note(log, "photos: " + r.dir + " already holds " + std::to_string(r.files.size()) +
                    " photographs (--force to redo)");
      return r;
    }
    r.files.clear();
  }

  const std::vector<std::string> packages = {"python3-skimage", "python3-sklearn"};
  std::string pkg_list;
  for (const auto& p : packages) pkg_list += " " + p;
  if (find_on_path("apt-get").empty() || find_on_path("dpkg-deb").empty())
    throw std::runtime_error(
        "apt-get download is impossible here (no apt-get/dpkg-deb): the "
        "photographs come from Debian's" +
        pkg_list + "; use --skip-photos");
  ScopedTempDir tmp("sparseloop-photos-");
  note(log, "photos: apt-get download" + pkg_list);
  std::vector<std::string> cmd = {"apt-get", "download", "-q"};
  cmd.insert(cmd.end(), packages.begin(), packages.end());
  const auto dl = run_process(cmd, tmp.path());
  if (dl.exit_code != 0)
    throw std::runtime_error("apt-get download" + pkg_list + " failed (" + last_line(dl.output) +
                             "); the photographs need Debian's package archive "
                             "(try `apt-get update`, or use --skip-photos)");

  // Unpack every .deb into one tree; the .deb names carry the versions.
  const std::string root = tmp.file("root");
  make_dirs(root);
  std::vector<std::string> debs;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    if (e.path().extension() != ".deb") continue;
    const std::string deb = e.path().string();
    const auto x = run_process({"dpkg-deb", "-x", deb, root});
    if (x.exit_code != 0)
      throw std::runtime_error("dpkg-deb -x " + e.path().filename().string() + " failed (" +
                               last_line(x.output) + ")");
    debs.push_back(e.path().filename().string());
  }

  // Index the unpacked files by "folder/file" suffix (python3.X paths vary).
  std::map<std::string, std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const fs::path p = e.path();
    found[p.parent_path().parent_path().filename().string() + "/" +
          p.parent_path().filename().string() + "/" + p.filename().string()] = p.string();
    found[p.parent_path().parent_path().parent_path().filename().string() + "/" +
          p.parent_path().parent_path().filename().string() + "/" +
          p.parent_path().filename().string() + "/" + p.filename().string()] = p.string();
  }

  make_dirs(r.dir);
  std::error_code ec;
  fs::remove(r.dir + "/SOURCE.txt", ec);  // rewritten last: marks a complete fetch
  std::string listing;
  for (const auto& p : photos) {
    auto it = found.find(std::string(p.folder) + "/" + p.file);
    if (it == found.end()) {
      r.missing.push_back(p.file);
      note(log, std::string("photos: ") + p.package + " has no " + p.folder + "/" + p.file +
                    "; skipped");
      continue;
    }
    const std::string bytes = read_file(it->second);
    if (!looks_like_image(bytes)) {
      r.missing.push_back(p.file);
      note(log, std::string("photos: ") + p.folder + "/" + p.file +
                    " is not a readable image; "
                    "skipped");
      continue;
    }
    write_file_atomic(r.dir + "/" + p.file, bytes);
    r.files.push_back(p.file);
    listing +=
        std::string("  ") + p.file + "  (" + p.package + ": " + p.folder + "/" + p.file + ")\n";
  }
  if (r.files.empty())
    throw std::runtime_error("apt-get download" + pkg_list +
                             " gave none of the expected "
                             "photographs (a different package layout?)");
  std::sort(debs.begin(), debs.end());
  std::string pkgs;
  for (const auto& deb : debs) pkgs += "  " + deb + "\n";
  write_file_atomic(r.dir + "/SOURCE.txt",
                    "Natural photographs copied by `sparseloop data fetch` from Debian packages\n"
                    "(apt-get download + dpkg-deb -x; licences: scikit-image and scikit-learn\n"
                    "data files, see each package's copyright file):\n" +
                        pkgs + "\nFiles:\n" + listing);
  r.fetched = true;
  note(log, "photos: wrote " + std::to_string(r.files.size()) + " photographs to " + r.dir);
  return r;
}

}  // namespace sparseloop
