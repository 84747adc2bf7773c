#include "sparseloop/data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <stb/stb_image.h>

#include "sparseloop/data/transforms.h"
#include "sparseloop/io/jpeg.h"
#include "sparseloop/io/stb_guard.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

bool is_image_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

namespace {
namespace fs = std::filesystem;

std::vector<std::string> sorted_entries(const std::string& dir, bool folders) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind('.', 0) == 0) continue;  // hidden
    if (folders ? e.is_directory(ec) : (e.is_regular_file(ec) && is_image_file(e.path())))
      out.push_back(e.path().filename().string());
  }
  require(!ec, dir + ": cannot list folder (" + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

// Short side up to `crop` when smaller, centre crop to crop×crop, then
// resize to size×size (either step skipped when 0).
torch::Tensor prepare(const torch::Tensor& chw, const ImageFolderOptions& o) {
  auto x = chw.unsqueeze(0);
  if (o.crop > 0) {
    const int64_t h = x.size(2), w = x.size(3), short_side = std::min(h, w);
    if (short_side < o.crop) {
      const double scale = static_cast<double>(o.crop) / short_side;
      const int64_t nh = std::max(o.crop, static_cast<int64_t>(std::lround(h * scale)));
      const int64_t nw = std::max(o.crop, static_cast<int64_t>(std::lround(w * scale)));
      x = resize_images_u8(x, nh, nw);
    }
    x = center_crop(x, o.crop, o.crop);
  }
  if (o.size > 0) x = resize_images_u8(x.contiguous(), o.size, o.size);
  return x.squeeze(0).contiguous();
}

ImageDataset load_split(const std::string& dir, const ImageFolderOptions& o,
                        const std::string& name) {
  const auto classes = sorted_entries(dir, true);
  require(!classes.empty(), dir + ": no class folders (expected " + dir +
                                "/<class>/<image>.png|jpg|jpeg|bmp, one folder per class)");
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  std::string first_path;
  for (size_t c = 0; c < classes.size(); ++c) {
    const std::string cdir = dir + "/" + classes[c];
    auto files = sorted_entries(cdir, false);
    if (o.max_per_class > 0 && static_cast<int64_t>(files.size()) > o.max_per_class)
      files.resize(static_cast<size_t>(o.max_per_class));
    for (const auto& f : files) {
      const std::string path = cdir + "/" + f;
      auto img = prepare(read_image(path, o.channels), o);
      if (!images.empty())
        require(img.sizes() == images.front().sizes(),
                path + ": " + std::to_string(img.size(1)) + "x" + std::to_string(img.size(2)) +
                    " pixels but " + first_path + " has " + std::to_string(images.front().size(1)) +
                    "x" + std::to_string(images.front().size(2)) +
                    "; images of different sizes need a crop or size");
      else
        first_path = path;
      images.push_back(img);
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  require(!images.empty(), dir + ": no images (.png, .jpg, .jpeg, .bmp) in its " +
                               std::to_string(classes.size()) + " class folders");
  ImageDataset d;
  d.images = torch::stack(images).contiguous();
  d.labels = torch::tensor(labels, torch::kLong);
  d.num_classes = static_cast<int64_t>(classes.size());
  d.class_names = classes;
  d.name = name;
  return d;
}

ImageDataset empty_like_split(const ImageDataset& like) {
  ImageDataset d = like;
  d.images = torch::empty({0, like.channels(), like.height(), like.width()}, torch::kUInt8);
  d.labels = torch::empty({0}, torch::kLong);
  return d;
}

}  // namespace

torch::Tensor read_image(const std::string& path, int64_t channels) {
  TORCH_CHECK(channels == 1 || channels == 3, "read_image: channels must be 1 or 3, got ",
              channels);
  const std::string bytes = read_file(path);
  require(bytes.size() <= static_cast<size_t>(INT32_MAX), path + ": image file over 2 GiB");
  // JPEGs go to libjpeg-turbo where the build has it (io/jpeg.h says why).
  if (kTurboJpeg && is_jpeg(bytes)) return decode_jpeg(bytes, channels, path);
  if (const std::string why = stb_input_problem(bytes); !why.empty())
    throw InputError(path + ": cannot decode image (" + why + "); expected PNG, JPEG or BMP");
  int w = 0, h = 0, n = 0;
  stbi_uc* data =
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                            static_cast<int>(bytes.size()), &w, &h, &n, static_cast<int>(channels));
  if (data == nullptr) {
    const char* why = stbi_failure_reason();
    throw InputError(path + ": cannot decode image (" + (why ? why : "unknown reason") +
                     "); expected PNG, JPEG or BMP");
  }
  // Own the pixels before anything can throw.
  std::unique_ptr<stbi_uc, void (*)(void*)> owner(data, stbi_image_free);
  auto hwc = torch::from_blob(data, {h, w, channels}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).contiguous();
}

DataSplits load_image_folder(const std::string& dir, const ImageFolderOptions& o) {
  TORCH_CHECK(o.crop >= 0 && o.size >= 0 && o.max_per_class >= 0,
              "load_image_folder: crop, size and max_per_class must be >= 0");
  TORCH_CHECK(o.channels == 1 || o.channels == 3, "load_image_folder: channels must be 1 or 3");
  std::error_code ec;
  require(fs::is_directory(dir, ec), dir + ": no such folder (expected <class>/<image> folders)");
  const std::string name = "folder";
  const bool has_train = fs::is_directory(dir + "/train", ec);
  DataSplits s;
  if (!has_train) {
    s.train = load_split(dir, o, name);
    s.test = empty_like_split(s.train);
    return s;
  }
  s.train = load_split(dir + "/train", o, name);
  std::string test_dir;
  for (const char* t : {"val", "test"})
    if (fs::is_directory(dir + "/" + t, ec)) {
      test_dir = dir + "/" + t;
      break;
    }
  if (test_dir.empty()) {
    s.test = empty_like_split(s.train);
    return s;
  }
  s.test = load_split(test_dir, o, name);
  require(s.test.class_names == s.train.class_names,
          test_dir + ": its class folders differ from " + dir + "/train's");
  require(s.test.images.sizes().slice(1) == s.train.images.sizes().slice(1),
          test_dir + ": images end up a different size from " + dir + "/train's");
  return s;
}

}  // namespace sparseloop
