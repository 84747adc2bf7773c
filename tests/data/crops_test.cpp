// data/crops.h: crops of photographs the test draws, written in the CIFAR-10
// binary format and read back by the CIFAR-10 loader; held-out photographs;
// k-means labels; refused options.
#include <filesystem>

#include <gtest/gtest.h>

#include "support/testing.h"
#include "sparseloop/data/cifar.h"
#include "sparseloop/data/crops.h"
#include "sparseloop/data/image_folder.h"
#include "sparseloop/io/png.h"
#include "sparseloop/util/fs.h"

using namespace sparseloop;

namespace {

/// A photograph of one flat colour plus a little texture: crops of it keep its colour.
void write_photo(const std::string& path, int r, int g, int b, int64_t h = 80, int64_t w = 96) {
  auto img = torch::empty({3, h, w}, torch::kByte);
  img[0].fill_(r), img[1].fill_(g), img[2].fill_(b);
  img.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, h, 7)},
                 torch::full({3, (h + 6) / 7, w}, 90, torch::kByte));
  write_png(path, img);
}

/// Red, green and blue photographs for training and another red one held
/// out, cut into 3 clusters.
CropOptions three_colours_and_a_held_out_red(const ts::TempDir& dir) {
  make_dirs(dir.file("photos"));
  write_photo(dir.file("photos/a_red.png"), 230, 20, 20);
  write_photo(dir.file("photos/b_green.png"), 20, 230, 20);
  write_photo(dir.file("photos/c_blue.png"), 20, 20, 230);
  write_photo(dir.file("photos/d_red.png"), 200, 30, 30);
  CropOptions o;
  o.photos = dir.file("photos");
  o.out = dir.file("crops");
  o.classes = 3;
  o.test_photos = {"d_red.png"};
  return o;
}

}  // namespace

TEST(Crops, CifarFilesHoldTheCropsOfTheRightPhotographs) {
  ts::TempDir dir;
  CropOptions o = three_colours_and_a_held_out_red(dir);
  o.train = 300;
  o.test = 60;
  const auto r = make_crops(o);
  EXPECT_EQ(r["train_photos"].size(), 3u);
  EXPECT_EQ(r["test_photos"], nlohmann::json::array({"d_red.png"}));
  ASSERT_TRUE(file_exists(dir.file("crops/SOURCE.txt")));

  const DataSplits s = load_cifar10(dir.file("crops"));  // the real loader reads it
  ASSERT_EQ(s.train.size(), 300);
  ASSERT_EQ(s.test.size(), 60);
  // Every test crop comes from the held-out (red) photo: red dominates.
  auto test = s.test.images.to(torch::kFloat);  // (60, 3, 32, 32)
  EXPECT_TRUE((test.select(1, 0).mean({1, 2}) > test.select(1, 1).mean({1, 2}) + 50).all().item<bool>());
  // k-means found the three colours: each training cluster is one photograph's colour,
  // and the red test crops take the red training cluster's label.
  auto train = s.train.images.to(torch::kFloat);
  const auto red = (train.select(1, 0).mean({1, 2}) > 150);  // (300,)
  const auto red_labels = s.train.labels.index({red});
  ASSERT_GT(red_labels.numel(), 0);
  EXPECT_TRUE((red_labels == red_labels[0]).all().item<bool>());
  EXPECT_TRUE((s.test.labels == red_labels[0]).all().item<bool>());
}

TEST(Crops, KmeansSeparatesClearClusters) {
  auto a = torch::randn({50, 2}, torch::kDouble) * 0.1;
  auto b = torch::randn({50, 2}, torch::kDouble) * 0.1 + 5.0;
  auto x = torch::cat({a, b});  // (100, 2)
  const auto centres = kmeans(x, 2, 0);
  const auto l = nearest_centre(x, centres);
  EXPECT_TRUE((l.narrow(0, 0, 50) == l[0]).all().item<bool>());
  EXPECT_TRUE((l.narrow(0, 50, 50) == l[50]).all().item<bool>());
  EXPECT_NE(l[0].item<int64_t>(), l[50].item<int64_t>());
}

TEST(Crops, RefusesBadFoldersPhotosAndOptions) {
  ts::TempDir dir;
  make_dirs(dir.file("photos"));
  write_photo(dir.file("photos/a.png"), 200, 0, 0);
  CropOptions o;
  o.photos = dir.file("photos");
  o.out = dir.file("crops");
  o.train = 20;
  o.test = 5;
  EXPECT_NE(ts::expect_input_error([&] { make_crops(o); }).find("at least 2"), std::string::npos);
  write_photo(dir.file("photos/b.png"), 0, 200, 0, 20, 20);
  EXPECT_NE(ts::expect_input_error([&] { make_crops(o); }).find("b.png"), std::string::npos);  // too small
  std::filesystem::remove(dir.file("photos/b.png"));
  write_photo(dir.file("photos/b.png"), 0, 200, 0);
  o.test_photos = {"zzz.png"};
  EXPECT_NE(ts::expect_input_error([&] { make_crops(o); }).find("zzz.png"), std::string::npos);
  o.test_photos = {};
  o.size = 48;
  EXPECT_NE(ts::expect_input_error([&] { make_crops(o); }).find("--format folder"), std::string::npos);
  o.size = 32;
  o.photos = dir.file("none");
  EXPECT_NE(ts::expect_input_error([&] { make_crops(o); }).find("none"), std::string::npos);
  EXPECT_FALSE(file_exists(dir.file("crops/SOURCE.txt")));
}

TEST(Crops, FolderFormatLoadsWhenTheHeldOutPhotoShowsFewerClusters) {
  // The held-out photo is red only: its split has crops of one cluster of
  // three. The ImageFolder reader must still see the same three classes in
  // both splits (an empty folder for the others), or `train --data folder`
  // refuses the dataset (found with natural64-csc-ctrl).
  ts::TempDir dir;
  CropOptions o = three_colours_and_a_held_out_red(dir);
  o.format = "folder";
  o.size = 40;
  o.train = 60;
  o.test = 12;
  make_crops(o);
  ImageFolderOptions fo;
  fo.crop = 40;  // the crops as they are
  fo.size = 40;
  const DataSplits s = load_image_folder(dir.file("crops"), fo);
  EXPECT_EQ(s.train.size(), 60);
  EXPECT_EQ(s.test.size(), 12);
  EXPECT_EQ(s.test.num_classes, 3);
  EXPECT_EQ(s.test.images.size(2), 40);
  EXPECT_TRUE((s.test.labels == s.test.labels[0]).all().item<bool>());  // one cluster
}
