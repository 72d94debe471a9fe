// What the GGUF layer does with paths that are not plain model files, and with files it is writing.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>

#include "gguf/mapping.h"
#include "hearth/gguf.h"
#include "model/temp_dir.h"
#include "support/shared_data.h"

namespace hearth::gguf {
namespace {

namespace fs = std::filesystem;

fs::path demo_model() { return test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf"; }

// Opening a FIFO for reading blocks until a writer appears; the open must be refused before that.
TEST(GgufPaths, FifoIsRefusedWithoutBlocking) {
  test::TempDir dir("gguf-fifo");
  const fs::path fifo = dir / "model.gguf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    File::open(fifo);
    FAIL() << "a FIFO was opened as a model";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(GgufPaths, DirectoryAndEmptyPathAreRefused) {
  test::TempDir dir("gguf-dir");
  EXPECT_THROW(File::open(dir.path()), std::runtime_error);
  EXPECT_THROW(File::open(""), std::runtime_error);
}

TEST(GgufPaths, RegistryNamesTheMappedFileOnlyWhileMapped) {
  const std::byte* inside = nullptr;
  {
    const File file = File::open(demo_model());
    inside = file.tensors().front().data;
    const char* name = mapped_file_containing(inside);
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(std::string(name), demo_model().string());
    int on_stack = 0;
    EXPECT_EQ(mapped_file_containing(&on_stack), nullptr);
  }
  EXPECT_EQ(mapped_file_containing(inside), nullptr);
}

// A write that dies half-way must not leave something readers accept as a model: the magic comes last.
TEST(GgufPaths, FileBeingWrittenIsNoGguf) {
  test::TempDir dir("gguf-partial");
  const fs::path path = dir / "partial.gguf";
  Writer writer;
  const std::array<int64_t, 1> shape{32};
  writer.add_tensor("a", TensorType::F32, shape);
  writer.add_tensor("b", TensorType::F32, shape);
  bool checked = false;
  writer.write(path, [&](size_t index, std::span<std::byte> out) {
    std::fill(out.begin(), out.end(), std::byte{0});
    if (index == 1) {
      EXPECT_THROW(File::open(path), FormatError);
      checked = true;
    }
  });
  EXPECT_TRUE(checked);
  const File complete = File::open(path);
  EXPECT_EQ(complete.tensors().size(), 2u);
}

}  // namespace
}  // namespace hearth::gguf
