// C++ test of the native libraries, registered with CTest (MINI_LLM_BUILD_TESTS=ON).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "mini_llm/c_api.h"
#include "tiny_runtime/tiny_runtime.h"
#ifdef MINI_LLM_TEST_CUDA
#include "mini_llm/cuda_api.h"
#endif

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

uint32_t Fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

int main() {
  Check(std::strcmp(MiniLLMVersion(), TinyRuntimeVersion()) == 0, "versions agree");
  Check(std::strstr(MiniLLMBuildInfo(), "\"backends\"") != nullptr, "build info has backends");

  int32_t ids[8] = {0};
  int32_t n = -1;
  Check(MiniLLMTokenize("Hello, WORLD 42!", ids, 8, &n) == 0 && n == 3, "tokenize count");
  Check(ids[0] == static_cast<int32_t>(Fnv1a("hello") % MINI_LLM_VOCAB_SIZE), "token id hello");
  Check(ids[2] == static_cast<int32_t>(Fnv1a("42") % MINI_LLM_VOCAB_SIZE), "token id 42");
  Check(MiniLLMTokenize("a b c d", ids, 2, &n) == 0 && n == 4, "count beyond capacity");
  Check(MiniLLMTokenize(nullptr, ids, 8, &n) == -1 && *MiniLLMGetLastError() != '\0',
        "null text is an error");

  double direct = -1.0;
  double via_module = -2.0;
  Check(MiniLLMScore("the quick brown fox", &direct) == 0 && direct > 0.0 && direct < 1.0,
        "score in (0, 1)");
  Check(MiniLLMModuleInvoke("mini_llm.score", "the quick brown fox", &via_module) == 0 &&
            via_module == direct,
        "module invoke equals direct call");
  Check(MiniLLMModuleInvoke("no.such.function", "x", &via_module) == -1, "unknown function");
  Check(std::string(MiniLLMModuleListFunctions()).find("mini_llm.count_tokens") !=
            std::string::npos,
        "registry lists count_tokens");

#ifdef MINI_LLM_TEST_CUDA
  int count = -1;
  int err = MiniLLMCudaDeviceCount(&count);
  std::printf("cuda: device count %d (%s)\n", count, MiniLLMCudaErrorString(err));
  Check(err != 0 ? count == 0 : count >= 0, "cuda device query returns instead of aborting");
  if (err == 0 && count > 0) {
    float x[3] = {1.f, 2.f, 3.f}, y[3] = {10.f, 20.f, 30.f}, out[3] = {0.f, 0.f, 0.f};
    Check(MiniLLMCudaSaxpy(3, 2.f, x, y, out) == 0 && out[2] == 36.f, "cuda saxpy");
  }
#endif
  std::printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
