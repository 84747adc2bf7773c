// ImageFolder and read_image on image files the test writes (PNG, JPEG, BMP).
#include <gtest/gtest.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <filesystem>

#include "support/data_files.h"
#include "sparseloop/data/image_folder.h"
#include "sparseloop/io/jpeg.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "support/testing.h"

using namespace sparseloop;
namespace fs = std::filesystem;

namespace {

// An h×w RGB PNG whose pixel (y, x) is (seed + y, seed + x, seed + y + x).
void write_png(const std::string& path, int h, int w, int seed) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<unsigned char> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<unsigned char>(seed + y);
      p[1] = static_cast<unsigned char>(seed + x);
      p[2] = static_cast<unsigned char>(seed + y + x);
    }
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3), 0);
}

}  // namespace

TEST(ImageFolder, ReadImageDecodesPngToChw) {
  ts::TempDir dir;
  write_png(dir.file("a.png"), 5, 7, 10);
  auto x = read_image(dir.file("a.png"));
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(x[0][4][2].item<int>(), 14);
  EXPECT_EQ(x[1][4][2].item<int>(), 12);
  EXPECT_EQ(x[2][4][2].item<int>(), 16);
  auto g = read_image(dir.file("a.png"), 1);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 5, 7}));
}

TEST(ImageFolder, ClassesSortedCropAndResize) {
  ts::TempDir dir;
  write_png(dir.file("zebra/1.png"), 12, 16, 0);
  write_png(dir.file("zebra/0.PNG"), 20, 10, 5);
  write_png(dir.file("ant/x.png"), 8, 8, 9);
  test_data::write_bytes(dir.file("ant/notes.txt"), "not an image");
  ImageFolderOptions o;
  o.crop = 8;
  o.size = 4;
  auto s = load_image_folder(dir.path(), o);
  ASSERT_EQ(s.train.images.sizes(), (std::vector<int64_t>{3, 3, 4, 4}));
  EXPECT_EQ(s.train.class_names, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_TRUE(torch::equal(s.train.labels, torch::tensor({0, 1, 1}, torch::kLong)));
  EXPECT_EQ(s.test.size(), 0);
  EXPECT_EQ(s.test.images.sizes(), (std::vector<int64_t>{0, 3, 4, 4}));
  // No crop, no resize: sizes must agree.
  o.crop = 0;
  o.size = 0;
  EXPECT_THROW(load_image_folder(dir.path(), o), InputError);
  // Short side below the crop is scaled up first.
  o.crop = 16;
  o.size = 0;
  o.max_per_class = 1;
  o.channels = 1;
  s = load_image_folder(dir.path(), o);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{2, 1, 16, 16}));
}

TEST(ImageFolder, TrainAndValSplits) {
  ts::TempDir dir;
  write_png(dir.file("train/a/0.png"), 6, 6, 0);
  write_png(dir.file("train/b/0.png"), 6, 6, 1);
  write_png(dir.file("val/a/0.png"), 6, 6, 2);
  write_png(dir.file("val/b/0.jpg.png"), 6, 6, 3);
  ImageFolderOptions o;
  o.crop = 0;
  o.size = 6;
  auto s = load_image_folder(dir.path(), o);
  EXPECT_EQ(s.train.size(), 2);
  EXPECT_EQ(s.test.size(), 2);
  EXPECT_EQ(s.test.images[0][0][1][1].item<int>(), 3);
}

TEST(ImageFolder, CorruptImageIsNamed) {
  ts::TempDir dir;
  write_png(dir.file("a/good.png"), 6, 6, 0);
  write_png(dir.file("a/bad.png"), 6, 6, 0);
  {
    // Cut the PNG after its header: a truncated download.
    std::string b = read_file(dir.file("a/bad.png"));
    test_data::write_bytes(dir.file("a/bad.png"), b.substr(0, 40));
  }
  try {
    load_image_folder(dir.path());
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad.png"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot decode"), std::string::npos) << what;
  }
  EXPECT_THROW(read_image(dir.file("a/missing.png")), InputError);
  EXPECT_THROW(load_image_folder(dir.file("a")), InputError);  // no class folders
}

namespace {

// Found by the fuzz target `image` (docs/reliability.md): a JPEG whose DHT
// segment declares more than 256 Huffman codes made Debian's stb_image 2.27
// write past its 257-byte table (memory corruption, seen by UBSan). Refused
// before stb sees it; a valid JPEG (written by stb_image_write) still decodes.
TEST(ImageFolder, JpegWithOversizedHuffmanTableIsRefused) {
  ts::TempDir dir;
  std::string jpeg = "\xFF\xD8\xFF\xC4";
  const int codes = 16 * 17;
  const int len = 2 + 17 + codes;
  jpeg += static_cast<char>(len >> 8);
  jpeg += static_cast<char>(len & 0xFF);
  jpeg += '\0';                       // class 0 (DC), table 0
  jpeg += std::string(16, '\x11');    // 17 codes of each length: 272 > 256
  jpeg += std::string(codes, '\0');
  jpeg += "\xFF\xD9";
  test_data::write_bytes(dir.file("bad.jpg"), jpeg);
  const std::string m = ts::expect_input_error([&] { read_image(dir.file("bad.jpg"), 3); });
  EXPECT_NE(m.find("bad.jpg"), std::string::npos) << m;
  EXPECT_NE(m.find("Huffman"), std::string::npos) << m;

  unsigned char px[4 * 3 * 3];
  for (size_t i = 0; i < sizeof px; ++i) px[i] = static_cast<unsigned char>(i * 7);
  ASSERT_TRUE(stbi_write_jpg(dir.file("ok.jpg").c_str(), 4, 3, 3, px, 90));
  EXPECT_EQ(read_image(dir.file("ok.jpg"), 3).sizes(), (std::vector<int64_t>{3, 3, 4}));
  ASSERT_TRUE(stbi_write_bmp(dir.file("ok.bmp").c_str(), 4, 3, 3, px));
  EXPECT_EQ(read_image(dir.file("ok.bmp"), 1).sizes(), (std::vector<int64_t>{1, 3, 4}));
}

// Only the formats the readers accept are decoded: a GIF or TGA (decoders
// compiled out of the library's stb) is refused by name.
TEST(ImageFolder, FormatsOtherThanPngJpegBmpAreRefused) {
  ts::TempDir dir;
  test_data::write_bytes(dir.file("one.gif"),
                         std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
                                     "\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01"
                                     "\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
                                     43));
  const std::string m = ts::expect_input_error([&] { read_image(dir.file("one.gif"), 3); });
  EXPECT_NE(m.find("expected PNG, JPEG or BMP"), std::string::npos) << m;
}

}  // namespace

namespace {

// Found by the fuzz target `image` (docs/reliability.md): an 87-byte BMP whose
// header claims 8 650 500 x 67 pixels made stb allocate and fill 1.7 GB. The
// header's size is checked first (kMaxImagePixels).
TEST(ImageFolder, ImageClaimingMorePixelsThanTheLimitIsRefused) {
  ts::TempDir dir;
  const std::string header("\x42\x4d\x5a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x04\xff\x83\x00\x43\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 54);
  test_data::write_bytes(dir.file("bomb.bmp"), header + std::string(36, '\x7f'));
  const std::string m = ts::expect_input_error([&] { read_image(dir.file("bomb.bmp"), 3); });
  EXPECT_NE(m.find("bomb.bmp"), std::string::npos) << m;
  EXPECT_NE(m.find("8650500x67 pixels"), std::string::npos) << m;
}

// Found by the fuzz target `image` (docs/reliability.md): an empty IDAT chunk
// before any image data made stb 2.27 memcpy to a null pointer (undefined
// behaviour, UBSan). Refused before stb sees it.
TEST(ImageFolder, PngWithAnEmptyFirstIdatChunkIsRefused) {
  ts::TempDir dir;
  const std::string png("\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x02\x00\x00\x00\x02\x08\x06\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x49\x44\x41\x54\x78\x5e\x64\xb5\xf9\xff\xff\xff\xff\xff\xff\xff\xf6\x69\x4b\xb7\x1c\xbe\xf4\x10\x00\x25\xe0\x06\xb0\x0f\xb1\x4b\x37\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\xf2\x82", 99);
  test_data::write_bytes(dir.file("empty-idat.png"), png);
  const std::string m = ts::expect_input_error([&] { read_image(dir.file("empty-idat.png"), 3); });
  EXPECT_NE(m.find("empty-idat.png: cannot decode image (PNG with an empty IDAT chunk"),
            std::string::npos)
      << m;
  // An IDAT chunk longer than the rest of the file: stb allocated what it
  // claims (2 GB from 122 bytes) before reading it.
  const std::string bomb("\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00\x03\x08\x00\x00\x00\x00\x91\x9f\xf1\x1a\x00\x00\x00\x13\x49\x44\x41\x54\x78\x5e\x63\x64\x64\x10\xf0\x9c\xce\x00\x00\x0d\x49\x48\x44\x52\x00\xc8\x2f\x0d\x89\x50\x4e\x47\x00\x49\x45\x49\x44\x41\x54\x78\x5e\x63\x64\x10\xf0\x9c\xce\x00\x10\x61\x00\x00\x02\x00\x09\x38\x01\x5b\x40\x2f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x9f\xf1\x1a\x00\x00\x30\x13\x00\x91\x9f\xf1\xff\x1a", 122);
  test_data::write_bytes(dir.file("long-idat.png"), bomb);
  const std::string b = ts::expect_input_error([&] { read_image(dir.file("long-idat.png"), 1); });
  EXPECT_NE(b.find("long-idat.png: cannot decode image (truncated PNG"), std::string::npos) << b;
}

// A BMP shorter than its header says (stb reads past the end as zeros): a
// 4000 × 4000 claim in 90 bytes was decoded whole, 16 M pixels of nothing,
// the slowest input of the fuzz target `image` (docs/reliability.md); a BMP
// cut short lost its last rows silently. Both are refused; a whole BMP, and
// one without the last row's padding, read as before.
TEST(ImageFolder, BmpShorterThanItsHeaderSaysIsRefused) {
  ts::TempDir dir;
  std::string header("\x42\x4d\x5a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\xa0\x0f\x00\x00\xa0\x0f\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 54);
  test_data::write_bytes(dir.file("claims.bmp"), header + std::string(36, '\x7f'));
  std::string m = ts::expect_input_error([&] { read_image(dir.file("claims.bmp"), 3); });
  EXPECT_NE(m.find("claims.bmp: cannot decode image (truncated BMP"), std::string::npos) << m;
  EXPECT_NE(m.find("4000x4000"), std::string::npos) << m;
  // A compression field stb reads as a negative int passes it as uncompressed.
  header.replace(30, 4, "\xff\xff\xff\xff");
  test_data::write_bytes(dir.file("negative.bmp"), header + std::string(36, '\x7f'));
  m = ts::expect_input_error([&] { read_image(dir.file("negative.bmp"), 1); });
  EXPECT_NE(m.find("negative.bmp: cannot decode image (truncated BMP"), std::string::npos) << m;

  unsigned char px[5 * 3 * 3];
  for (size_t i = 0; i < sizeof px; ++i) px[i] = static_cast<unsigned char>(i * 11);
  ASSERT_TRUE(stbi_write_bmp(dir.file("ok.bmp").c_str(), 5, 3, 3, px));
  const std::string whole = sparseloop::read_file(dir.file("ok.bmp"));
  const auto image = read_image(dir.file("ok.bmp"), 3);
  test_data::write_bytes(dir.file("cut.bmp"), whole.substr(0, whole.size() - 16));
  m = ts::expect_input_error([&] { read_image(dir.file("cut.bmp"), 3); });
  EXPECT_NE(m.find("cut.bmp: cannot decode image (truncated BMP"), std::string::npos) << m;
  // 5 pixels of 24 bits: 15 bytes a row, padded to 16; the last pad omitted.
  test_data::write_bytes(dir.file("nopad.bmp"), whole.substr(0, whole.size() - 1));
  EXPECT_TRUE(torch::equal(read_image(dir.file("nopad.bmp"), 3), image));
}

}  // namespace

namespace {

// JPEGs are decoded by libjpeg-turbo (io/jpeg.h). Found by the fuzz target
// `image` (docs/reliability.md): a 705-byte JPEG whose entropy-coded data
// drives stb 2.27's bit count negative, then shifts by 33 (undefined
// behaviour, UBSan, in stbi__grow_buffer_unsafe); no structural check can
// rule that out, so stb no longer sees JPEGs. The finding is refused by
// name; a truncated JPEG is refused instead of decoded grey at the bottom;
// a clean one decodes to the pixels it was written from.
TEST(ImageFolder, JpegIsDecodedByLibjpegTurboAndCorruptDataIsRefused) {
  if (!kTurboJpeg) GTEST_SKIP() << "built without libjpeg-turbo (stb's guarded decoder)";
  ts::TempDir dir;
  test_data::write_bytes(
      dir.file("finding.jpg"),
      read_file(SPARSELOOP_SOURCE_DIR "/fuzz/corpus/image/jpeg-negative-bit-count.jpg"));
  for (int64_t c : {1, 3}) {
    const std::string m = ts::expect_input_error([&] { read_image(dir.file("finding.jpg"), c); });
    EXPECT_EQ(m.rfind(dir.file("finding.jpg") + ": cannot decode JPEG (", 0), 0u) << m;
  }

  // A smooth 16×24 RGB gradient at quality 100: libjpeg-turbo's decode is
  // within a few levels of what was written (8×8 DCT rounding, 4:2:0 chroma
  // upsampled by stb_image_write's encoder settings).
  const int h = 16, w = 24;
  std::vector<unsigned char> px(static_cast<size_t>(h * w * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<unsigned char>(40 + 8 * y);
      p[1] = static_cast<unsigned char>(30 + 6 * x);
      p[2] = static_cast<unsigned char>(120);
    }
  ASSERT_TRUE(stbi_write_jpg(dir.file("ok.jpg").c_str(), w, h, 3, px.data(), 100));
  const auto rgb = read_image(dir.file("ok.jpg"), 3);  // (3, H, W)
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{3, h, w}));
  const auto written = torch::from_blob(px.data(), {h, w, 3}, torch::kUInt8).permute({2, 0, 1});
  EXPECT_LE((rgb.to(torch::kInt) - written.to(torch::kInt)).abs().max().item<int>(), 6);
  // Grey is the JPEG's luma: ITU-R BT.601 of the decoded colours.
  const auto grey = read_image(dir.file("ok.jpg"), 1).to(torch::kDouble);  // (1, H, W)
  const auto c = rgb.to(torch::kDouble);
  const auto luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  EXPECT_LE((grey[0] - luma).abs().max().item<double>(), 3.0);

  const std::string whole = read_file(dir.file("ok.jpg"));
  test_data::write_bytes(dir.file("cut.jpg"), whole.substr(0, whole.size() / 2));
  const std::string m = ts::expect_input_error([&] { read_image(dir.file("cut.jpg"), 3); });
  EXPECT_EQ(m.rfind(dir.file("cut.jpg") + ": cannot decode JPEG (", 0), 0u) << m;
}

}  // namespace
