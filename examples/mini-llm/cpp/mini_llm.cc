#include "mini_llm/c_api.h"

#include <cmath>
#include <string>
#include <vector>

#include "build_info.h"
#include "tiny_runtime/tiny_runtime.h"

namespace {

bool IsAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::vector<int32_t> Tokenize(const char* text) {
  std::vector<int32_t> ids;
  std::string token;
  auto flush = [&]() {
    if (token.empty()) return;
    uint32_t hash = TinyRuntimeHashBytes(token.data(), token.size());
    ids.push_back(static_cast<int32_t>(hash % MINI_LLM_VOCAB_SIZE));
    token.clear();
  };
  for (const char* p = text; *p != '\0'; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (IsAlnum(c)) {
      token += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    } else {
      flush();
    }
  }
  flush();
  return ids;
}

int CountTokens(const char* text, double* out) {
  int32_t n = 0;
  if (MiniLLMTokenize(text, nullptr, 0, &n) != 0) return -1;
  *out = static_cast<double>(n);
  return 0;
}

// Registration at load time, as TVM's TVM_REGISTER_GLOBAL does.
[[maybe_unused]] const int kRegistered = MiniLLMRegisterFunctions();

}  // namespace

extern "C" {

const char* MiniLLMVersion(void) { return MINI_LLM_VERSION_STRING; }

const char* MiniLLMBuildInfo(void) { return MINI_LLM_BUILD_INFO_JSON; }

int MiniLLMTokenize(const char* text, int32_t* ids, int32_t capacity, int32_t* num_tokens) {
  if (text == nullptr || num_tokens == nullptr || capacity < 0 ||
      (ids == nullptr && capacity > 0)) {
    TinyRuntimeSetLastError("MiniLLMTokenize: null text/num_tokens or bad capacity");
    return -1;
  }
  std::vector<int32_t> tokens = Tokenize(text);
  for (size_t i = 0; i < tokens.size() && i < static_cast<size_t>(capacity); ++i) {
    ids[i] = tokens[i];
  }
  *num_tokens = static_cast<int32_t>(tokens.size());
  return 0;
}

int MiniLLMScore(const char* text, double* out) {
  if (text == nullptr || out == nullptr) {
    TinyRuntimeSetLastError("MiniLLMScore: null text or output");
    return -1;
  }
  std::vector<int32_t> tokens = Tokenize(text);
  double total = 0.0;
  for (int32_t id : tokens) total += std::log(1.0 + id);
  *out = tokens.empty() ? 0.0 : total / tokens.size() / std::log(double(MINI_LLM_VOCAB_SIZE));
  return 0;
}

int MiniLLMRegisterFunctions(void) {
  if (TinyRuntimeRegister("mini_llm.score", MiniLLMScore) != 0) return -1;
  return TinyRuntimeRegister("mini_llm.count_tokens", CountTokens);
}

const char* MiniLLMGetLastError(void) { return TinyRuntimeGetLastError(); }

}  // extern "C"
