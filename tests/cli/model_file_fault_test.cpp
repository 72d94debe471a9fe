// A model file truncated while `hearth run` reads it through its mapping: one clear line and exit code 1, not a
// silent death by SIGBUS (exit 135).
#include <gtest/gtest.h>

#include <string>

#include "cli/run_command.h"
#include "model/temp_dir.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

TEST(CliModelFileFault, TruncatedModelIsReportedByName) {
  test::TempDir dir("fault");
  const fs::path copy = dir / "model.gguf";
  const std::string hearth = (test::bin_dir() / "hearth").string();
  // Generation is fast, so the truncation must land between the first printed text and the end: wait for output,
  // truncate, then see how it ended. A run that finished before the truncation ("rc=0") is retried.
  const std::string script =
      "cd " + dir.path().string() + " && " + hearth + " run -m model.gguf -p Once -n 400 --temp 0 -t 1" +
      " > out.txt 2> err.txt & pid=$!; i=0; while [ ! -s " + (dir / "out.txt").string() +
      " ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; truncate -s 1000000 " + copy.string() +
      "; wait $pid; echo rc=$?; cat " + (dir / "err.txt").string();
  test::CommandResult result;
  for (int attempt = 0; attempt < 5; ++attempt) {
    fs::copy_file(test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf", copy, fs::copy_options::overwrite_existing);
    fs::remove(dir / "out.txt");
    result = test::run_command("timeout 120 sh -c '" + script + "'");
    if (result.out.find("rc=0") == std::string::npos) break;
  }
  EXPECT_NE(result.out.find("rc=1"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("hearth: the model file model.gguf changed while in use (truncated or replaced)"),
            std::string::npos)
      << result.out;
}

}  // namespace
}  // namespace hearth
